from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Like Django's permissions: (re)created after every migrate, and after every
        # flush (a test database is flushed between transactional tests).
        post_migrate.connect(_ensure_system_accounts, sender=self)


def _ensure_system_accounts(using: str = "default", **kwargs) -> None:
    from accounts.services import system_accounts_ensure

    system_accounts_ensure(using=using)
