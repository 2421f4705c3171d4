from django.apps import AppConfig


class BankingConfig(AppConfig):
    """The project's cross-cutting parts (API plumbing, throttling) as an app, for the
    one model they own (banking.models.RateCounter)."""

    name = "banking"
