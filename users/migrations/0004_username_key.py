import unicodedata

from django.db import migrations, models

import users.models


def _key(username: str) -> str:
    # Frozen copy of users.models.username_key as of this migration.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def fill_keys(apps, schema_editor):
    User = apps.get_model("users", "User")
    for user in User.objects.only("pk", "username").iterator():
        User.objects.filter(pk=user.pk).update(
            username=unicodedata.normalize("NFKC", user.username), username_key=_key(user.username)
        )


class Migration(migrations.Migration):
    dependencies = [("users", "0003_rate_counter_unlogged")]
    operations = [
        migrations.AlterModelManagers(name="user", managers=[("objects", users.models.CaselessUserManager())]),
        migrations.AddField(
            model_name="user", name="username_key", field=models.CharField(default="", editable=False, max_length=600),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user", name="username_key", field=models.CharField(editable=False, max_length=600, unique=True),
        ),
    ]
