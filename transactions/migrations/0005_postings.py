"""Double entry, step 1 of 3: the Posting model, and entries that may belong to one
(system-account entries carry no sequence number or running balance)."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import banking.money


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_system_accounts"),
        ("transactions", "0004_ledger_append_only_trigger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Posting",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("DEPOSIT", "Deposit"), ("WITHDRAWAL", "Withdrawal"), ("TRANSFER", "Transfer"), ("REVERSAL", "Reversal")], max_length=16)),
                ("status", models.CharField(choices=[("SUCCESS", "Success"), ("FAILED", "Failed")], max_length=8)),
                ("note", models.CharField(blank=True, help_text="The note as the client gave it.", max_length=255)),
                ("created_at", models.DateTimeField()),
                ("idempotency_key", models.CharField(blank=True, help_text="The client's Idempotency-Key, if any.", max_length=255)),
                ("initiated_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("reversal_of", models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="reversed_by", to="transactions.posting")),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("kind__in", ["DEPOSIT", "WITHDRAWAL", "TRANSFER", "REVERSAL"])), name="posting_kind_valid"),
                    models.CheckConstraint(condition=models.Q(("status__in", ["SUCCESS", "FAILED"])), name="posting_status_valid"),
                    models.CheckConstraint(condition=models.Q(models.Q(("kind", "REVERSAL"), ("reversal_of__isnull", False)), models.Q(models.Q(("kind", "REVERSAL"), _negated=True), ("reversal_of__isnull", True)), _connector="OR"), name="posting_reversal_linked"),
                ],
            },
        ),
        migrations.AlterModelOptions(name="transaction", options={"ordering": ["-id"]}),
        migrations.AlterField(
            model_name="transaction", name="balance_after",
            field=banking.money.MoneyField(blank=True, decimal_places=2, max_digits=17, null=True),
        ),
        migrations.AlterField(
            model_name="transaction", name="seq",
            field=models.PositiveBigIntegerField(blank=True, help_text="Position in a customer account's ledger, from 1 (none on system accounts).", null=True),
        ),
        # Deposits credit, and withdrawals debit, customer accounts; their system legs go
        # the other way.
        migrations.RemoveConstraint(model_name="transaction", name="ledger_type_direction_consistent"),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("direction", "DEBIT"), ("seq__isnull", False), ("transaction_type", "DEPOSIT"), _negated=True), models.Q(("direction", "CREDIT"), ("seq__isnull", False), ("transaction_type", "WITHDRAWAL"), _negated=True)), name="ledger_type_direction_consistent"),
        ),
        migrations.AddField(
            model_name="transaction", name="posting",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="entries", to="transactions.posting"),
        ),
    ]
