"""Request bodies of the money movements, and the shapes of their answers (declared once:
these serializers produce the bodies and the OpenAPI schema alike)."""
from __future__ import annotations

from rest_framework import serializers

from banking.serializers import AmountField, IdField, InputSerializer, MoneyOutputField, TextField, WholeNumberField
from transactions.models import Direction, HoldStatus, Kind, Status
from transactions.limits import HOLD_DEFAULT_EXPIRY, HOLD_MAX_EXPIRY, HOLD_MIN_EXPIRY, NOTE_MAX_LENGTH


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
    hold_id = serializers.IntegerField(allow_null=True, help_text="The hold this movement captured, if any.")


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


# --- holds ---------------------------------------------------------------------------

class HoldCreateInputSerializer(InputSerializer):
    account_id = IdField(help_text="Your account, whose available balance is reserved.")
    amount = AmountField()
    note = _note_field()
    to_account_id = IdField(required=False, allow_null=True, default=None,
                            help_text="The payee (anyone's account): the capture is a transfer to it.")
    expires_in = WholeNumberField(
        min_value=int(HOLD_MIN_EXPIRY.total_seconds()), max_value=int(HOLD_MAX_EXPIRY.total_seconds()),
        required=False, default=int(HOLD_DEFAULT_EXPIRY.total_seconds()),
        help_text="Seconds until the hold expires and stops reserving (default 7 days, at most 30 days).",
    )


class HoldCaptureInputSerializer(InputSerializer):
    amount = AmountField(required=False, help_text="At most the hold's amount (default: all of it); the rest is "
                                                   "released at once.")
    note = _note_field()


class HoldOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    to_account_id = serializers.IntegerField(allow_null=True)
    amount = MoneyOutputField()
    captured_amount = MoneyOutputField(allow_null=True, help_text="Set once captured.")
    status = serializers.ChoiceField(choices=HoldStatus.choices, source="current_status",
                                     help_text="EXPIRED once past expires_at while still pending.")
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    available_balance = MoneyOutputField(
        allow_null=True, help_text="The held account's available balance now (null for the payee's side)."
    )


class HoldWithdrawalCaptureSerializer(MovementOutputSerializer):
    """A hold without payee, captured: the withdrawal's body, with the hold."""

    hold = HoldOutputSerializer()


class HoldTransferCaptureSerializer(TransferOutputSerializer):
    """A hold with a payee, captured: the transfer's body, with the hold. Each account's
    balance is shown to its owner (and staff) only: null for the other party."""

    from_account_balance = MoneyOutputField(source="from_balance", allow_null=True)
    to_account_balance = MoneyOutputField(source="to_balance", allow_null=True)
    hold = HoldOutputSerializer()
