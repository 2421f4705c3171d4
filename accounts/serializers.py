from __future__ import annotations

from rest_framework import serializers

from banking.serializers import InputSerializer, TextField
from banking.money import ZERO, format_money


class AccountCreateInputSerializer(InputSerializer):
    bank_name = TextField(max_length=100)
    branch = TextField(max_length=100)


class AccountCreatedOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank_name = serializers.CharField()
    branch = serializers.CharField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    balance = serializers.CharField()
    created_at = serializers.DateTimeField()


class AccountDetailOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="user.display_name")
    bank = serializers.CharField(source="bank_name")
    branch = serializers.CharField()
    balance = serializers.CharField()


class AccountListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    bank_name = serializers.CharField()
    branch = serializers.CharField()
    created_at = serializers.DateTimeField()


class BalanceQuerySerializer(serializers.Serializer):
    at = serializers.CharField(required=False)


class BalanceOutputSerializer(serializers.Serializer):
    balance = serializers.CharField(help_text='Decimal string with two places, e.g. "100.00".')
    at = serializers.DateTimeField(required=False, help_text="Present when the balance is as of `?at=`.")


class StatementRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    transaction_type = serializers.CharField()
    note = serializers.CharField(allow_blank=True)
    debit = serializers.CharField(allow_null=True, help_text="Money out, or null.")
    credit = serializers.CharField(allow_null=True, help_text="Money in, or null.")
    balance_after = serializers.CharField(help_text="Running balance after this movement.")


class StatementSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    # "from" is a Python keyword: declared below.
    to = serializers.DateTimeField()
    opening_balance = serializers.CharField()
    closing_balance = serializers.CharField()
    total_credits = serializers.CharField()
    total_debits = serializers.CharField()
    transactions = StatementRowSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields = {"account_id": fields.pop("account_id"), "from": serializers.DateTimeField(), **fields}
        return fields


def statement_data(statement) -> dict:
    credits = debits = ZERO
    rows = []
    for row in statement.rows:
        is_credit = row.direction == "CREDIT"
        if is_credit:
            credits += row.amount
        else:
            debits += row.amount
        rows.append({
            "id": row.pk,
            "created_at": serializers.DateTimeField().to_representation(row.created_at),
            "transaction_type": row.transaction_type,
            "note": row.note,
            "debit": None if is_credit else format_money(row.amount),
            "credit": format_money(row.amount) if is_credit else None,
            "balance_after": format_money(row.balance_after),
        })
    return {
        "account_id": statement.account_id,
        "from": serializers.DateTimeField().to_representation(statement.period_from),
        "to": serializers.DateTimeField().to_representation(statement.period_to),
        "opening_balance": format_money(statement.opening_balance),
        "closing_balance": format_money(statement.closing_balance),
        "total_credits": format_money(credits),
        "total_debits": format_money(debits),
        "transactions": rows,
    }
