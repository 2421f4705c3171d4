from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from users.models import User, username_key


class Command(BaseCommand):
    help = (
        "Create the admin user named by DJANGO_SUPERUSER_USERNAME / DJANGO_SUPERUSER_PASSWORD "
        "(and DJANGO_SUPERUSER_EMAIL) if no user of that name exists. An existing user is left as is."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if not username or not password:
            raise CommandError("Set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD.")
        if User.objects.filter(username_key=username_key(username)).exists():
            self.stdout.write(f"Admin user {username!r} already exists; left unchanged.")
            return
        User.objects.create_superuser(
            username=username, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password=password
        )
        self.stdout.write(f"Created admin user {username!r}.")
