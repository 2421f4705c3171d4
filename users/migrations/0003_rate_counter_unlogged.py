from django.db import migrations


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE users_ratecounter SET UNLOGGED", params=None)


def logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE users_ratecounter SET LOGGED", params=None)


class Migration(migrations.Migration):
    dependencies = [("users", "0002_rate_counter")]
    operations = [migrations.RunPython(unlogged, logged)]
