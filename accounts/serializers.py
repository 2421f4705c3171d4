"""Request bodies and answer shapes of the account endpoints (declared once: these
serializers produce the bodies and the OpenAPI schema alike)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import AccountStatus
from banking.money import format_money
from banking.serializers import InputSerializer, MoneyOutputField, TextField
from transactions.models import Direction, Kind, Transaction


class AccountCreateInputSerializer(InputSerializer):
    bank_name = TextField(max_length=100)
    branch = TextField(max_length=100)


STATUS_HELP = ("ACTIVE; FROZEN (staff froze it: deposits and incoming transfers only); CLOSED (no movements; "
               "its history stays readable).")


class AccountCreatedOutputSerializer(serializers.Serializer):
    """An account as ``POST /accounts`` answers it (the contract's fields; a new account
    is ACTIVE)."""

    id = serializers.IntegerField()
    bank_name = serializers.CharField()
    branch = serializers.CharField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    balance = MoneyOutputField()
    created_at = serializers.DateTimeField()


class AccountOutputSerializer(AccountCreatedOutputSerializer):
    """An account as its status changes answer it (and their events carry it)."""

    status = serializers.ChoiceField(choices=AccountStatus.choices, help_text=STATUS_HELP)


class AccountStatusInputSerializer(InputSerializer):
    reason = TextField(max_length=255, required=False, allow_blank=True,
                       help_text="Why: kept with the change, shown to staff on the account's page.")


class AccountStaffStatusInputSerializer(InputSerializer):
    reason = TextField(max_length=255, help_text="Why: required of staff; kept with the change.")


class AccountDetailOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="user.display_name")
    bank = serializers.CharField(source="bank_name")
    branch = serializers.CharField()
    status = serializers.ChoiceField(choices=AccountStatus.choices, help_text=STATUS_HELP)
    balance = MoneyOutputField()
    available_balance = MoneyOutputField(help_text="The balance less what the account's active holds reserve: "
                                                   "what withdrawals, transfers and new holds may use.")


class AccountListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    bank_name = serializers.CharField()
    branch = serializers.CharField()
    created_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=AccountStatus.choices, help_text=STATUS_HELP)
    available_balance = MoneyOutputField(help_text="The balance less what the account's active holds reserve: "
                                                   "what withdrawals, transfers and new holds may use.")


class BalanceOutputSerializer(serializers.Serializer):
    balance = MoneyOutputField()
    available_balance = MoneyOutputField(
        required=False, help_text="The balance less what active holds reserve (absent with `?at=`: that is the posted "
                                  "balance as of then)."
    )
    at = serializers.DateTimeField(required=False, help_text="Present when the balance is as of `?at=`.")


class StatementRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    transaction_type = serializers.ChoiceField(choices=Kind.choices)
    note = serializers.CharField(allow_blank=True)
    debit = serializers.SerializerMethodField(help_text="Money out, or null.")
    credit = serializers.SerializerMethodField(help_text="Money in, or null.")
    balance_after = MoneyOutputField(help_text="Running balance after this movement.")

    @extend_schema_field({"type": ["string", "null"]})
    def get_debit(self, entry: Transaction) -> str | None:
        return format_money(entry.amount) if entry.direction == Direction.DEBIT else None

    @extend_schema_field({"type": ["string", "null"]})
    def get_credit(self, entry: Transaction) -> str | None:
        return format_money(entry.amount) if entry.direction == Direction.CREDIT else None


class StatementSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    # "from" is a Python keyword: declared in get_fields.
    to = serializers.DateTimeField(source="period_to")
    opening_balance = MoneyOutputField()
    closing_balance = MoneyOutputField()
    total_credits = MoneyOutputField()
    total_debits = MoneyOutputField()
    transactions = StatementRowSerializer(many=True, source="rows")

    def get_fields(self):
        fields = super().get_fields()
        return {"account_id": fields.pop("account_id"), "from": serializers.DateTimeField(source="period_from"), **fields}
