"""The auditor and teller groups (banking.roles)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    # Permissions are created after migrations run (post_migrate); on a new database
    # they do not exist yet, so create them first, as that signal would.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    from banking.roles import roles_sync

    roles_sync(apps, using=schema_editor.connection.alias)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=["auditor", "teller"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("banking", "0001_rate_counter"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("sessions", "0001_initial"),
        ("users", "0005_rate_counter_moves_to_banking"),
        ("accounts", "0004_account_status"),
        ("transactions", "0013_hold_expiry_sweep_index"),
        ("events", "0003_account_status_events"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
