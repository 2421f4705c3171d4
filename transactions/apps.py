from django.apps import AppConfig


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = "Ledger"

    def ready(self) -> None:
        # transaction.created events name their entry: render it as the history does.
        from transactions.events import register

        register()
