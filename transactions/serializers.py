"""Request bodies of the money movements, and the shapes of their answers (declared once:
these serializers produce the bodies and the OpenAPI schema alike)."""
from __future__ import annotations

from rest_framework import serializers

from banking.serializers import AmountField, IdField, InputSerializer, MoneyOutputField, TextField
from transactions.models import Direction, Kind, Status
from transactions.services import NOTE_MAX_LENGTH


def _note_field() -> TextField:
    return TextField(max_length=NOTE_MAX_LENGTH, required=False, allow_blank=True, allow_null=True, default="")


class MovementInputSerializer(InputSerializer):
    """Body of a deposit or a withdrawal."""

    account_id = IdField()
    amount = AmountField()
    note = _note_field()


class TransferInputSerializer(InputSerializer):
    from_account_id = IdField()
    to_account_id = IdField()
    amount = AmountField()
    note = _note_field()


class ReversalInputSerializer(InputSerializer):
    note = _note_field()


class TransactionOutputSerializer(serializers.Serializer):
    """One entry of an account's ledger, as the contract shows it."""

    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    amount = MoneyOutputField()
    transaction_type = serializers.ChoiceField(choices=Kind.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class HistoryRowSerializer(TransactionOutputSerializer):
    """A history row: the contract's fields, plus where the entry stands in the books."""

    direction = serializers.ChoiceField(choices=Direction.choices, help_text="CREDIT (money in) or DEBIT (money out).")
    balance_after = MoneyOutputField(help_text="The account's balance after this entry.")
    posting_id = serializers.IntegerField(help_text="The posting (movement) this entry is one leg of.")


class MovementOutputSerializer(TransactionOutputSerializer):
    new_balance = MoneyOutputField(source="balance_after")


class TransferOutputSerializer(serializers.Serializer):
    debit_transaction = TransactionOutputSerializer(source="debit")
    credit_transaction = TransactionOutputSerializer(source="credit")
    from_account_balance = MoneyOutputField(source="debit.balance_after")
    to_account_balance = MoneyOutputField(source="credit.balance_after")
    transfer_amount = MoneyOutputField(source="amount")


class ReversalRowSerializer(TransactionOutputSerializer):
    reversal_of = serializers.IntegerField(source="reversal_of_id")
    balance_after = MoneyOutputField()


class ReversalOutputSerializer(serializers.Serializer):
    reversed_transaction_id = serializers.IntegerField()
    reversal_transactions = ReversalRowSerializer(many=True)
