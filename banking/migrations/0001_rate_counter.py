"""The rate-limit counter moves from users/ to banking/, where throttling lives. Its table
stays (users_ratecounter, UNLOGGED on PostgreSQL): only Django's bookkeeping moves."""
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("users", "0004_username_key")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RateCounter",
                    fields=[
                        ("counter_key", models.CharField(max_length=80, primary_key=True, serialize=False)),
                        ("window_start", models.BigIntegerField()),
                        ("hits", models.IntegerField()),
                    ],
                    options={"db_table": "users_ratecounter"},
                ),
            ],
        ),
    ]
