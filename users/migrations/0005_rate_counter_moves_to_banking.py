"""See banking/migrations/0001_rate_counter.py: the table stays, the model moves."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("users", "0004_username_key"), ("banking", "0001_rate_counter")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="RateCounter")]),
    ]
