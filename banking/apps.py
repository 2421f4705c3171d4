from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BankingConfig(AppConfig):
    """The project's cross-cutting parts (API plumbing, throttling) as an app, for the
    one model they own (banking.models.RateCounter)."""

    name = "banking"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # After every migrate (and flush), once the last app's permissions exist, the
        # auditor sees every model, those added later too.
        post_migrate.connect(_roles_sync)


def _roles_sync(sender, using: str = "default", **kwargs) -> None:
    from django.apps import apps

    from banking.roles import roles_sync

    if sender is list(apps.get_app_configs())[-1]:
        roles_sync(using=using)


class BankingAdminConfig(admin_apps.AdminConfig):
    """Django's admin, as the bank's console (``banking.admin_site``)."""

    default = False

    default_site = "banking.admin_site.BankingAdminSite"
