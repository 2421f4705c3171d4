from __future__ import annotations

from rest_framework import serializers

from banking.api import InputSerializer


class AccountCreateInputSerializer(InputSerializer):
    bank_name = serializers.CharField(max_length=100)
    branch = serializers.CharField(max_length=100)


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
