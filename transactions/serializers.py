from __future__ import annotations

from rest_framework import serializers

from banking.serializers import AmountField, IdField, InputSerializer, TextField
from banking.money import format_money
from transactions.models import Transaction

def _note_field() -> TextField:
    return TextField(max_length=255, required=False, allow_blank=True, allow_null=True, default="")


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


def transaction_data(entry: Transaction) -> dict:
    """One ledger row as the API shows it. Built by hand rather than by a serializer
    class: it is on every write's hot path and its shape is fixed by the contract."""
    return {
        "id": entry.pk,
        "account_id": entry.account_id,
        "amount": format_money(entry.amount),
        "transaction_type": entry.transaction_type,
        "status": entry.status,
        "note": entry.note,
        "created_at": serializers.DateTimeField().to_representation(entry.created_at),
    }


def movement_data(entry: Transaction) -> dict:
    """A deposit or withdrawal: the row plus the balance it left."""
    return {**transaction_data(entry), "new_balance": format_money(entry.balance_after)}


def reversal_data(original_id: int, rows: list[Transaction]) -> dict:
    return {
        "reversed_transaction_id": original_id,
        "reversal_transactions": [
            {**transaction_data(row), "reversal_of": row.reversal_of_id, "balance_after": format_money(row.balance_after)}
            for row in rows
        ],
    }


# --- Output shapes (documentation and schema validation; the views build the dicts) ----

class TransactionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    amount = serializers.CharField(help_text='Decimal string with two places, e.g. "100.00".')
    transaction_type = serializers.ChoiceField(choices=Transaction.Type.choices)
    status = serializers.ChoiceField(choices=Transaction.Status.choices)
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class MovementOutputSerializer(TransactionOutputSerializer):
    new_balance = serializers.CharField()


class TransferOutputSerializer(serializers.Serializer):
    debit_transaction = TransactionOutputSerializer()
    credit_transaction = TransactionOutputSerializer()
    from_account_balance = serializers.CharField()
    to_account_balance = serializers.CharField()
    transfer_amount = serializers.CharField()


class ReversalRowSerializer(TransactionOutputSerializer):
    reversal_of = serializers.IntegerField()
    balance_after = serializers.CharField()


class ReversalOutputSerializer(serializers.Serializer):
    reversed_transaction_id = serializers.IntegerField()
    reversal_transactions = ReversalRowSerializer(many=True)
