from __future__ import annotations

import unicodedata

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from banking.serializers import EmailTextField, InputSerializer, SecretField, TextField
from users.models import User


class UsernameField(TextField):
    """A new username, checked in the form it will be stored in (NFKC): normalising can
    lengthen a name (U+FDFA is 18 characters) or bring characters the rules refuse."""

    def to_internal_value(self, data: object) -> str:
        return unicodedata.normalize("NFKC", super().to_internal_value(data))


class UserCreateInputSerializer(InputSerializer):
    username = UsernameField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = SecretField(max_length=128)
    email = EmailTextField(max_length=254, required=False, allow_blank=True, default="")
    first_name = TextField(max_length=150, required=False, allow_blank=True, default="")
    last_name = TextField(max_length=150, required=False, allow_blank=True, default="")


class UserOutputSerializer(serializers.ModelSerializer):
    # Not an EmailField: the address is optional, and "" (none given) is no e-mail address.
    email = serializers.CharField(read_only=True, help_text="E-mail address, or an empty string if none was given.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "date_joined", "is_active"]
        read_only_fields = fields


class LoginInputSerializer(InputSerializer):
    MISSING = "Username and password are required."

    username = TextField(max_length=150)
    password = SecretField(max_length=128)

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.error_messages.update(required=self.MISSING, blank=self.MISSING, null=self.MISSING)
        return fields


class LoginOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once.")
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    message = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class LogoutAllOutputSerializer(MessageSerializer):
    revoked = serializers.IntegerField(help_text="How many tokens were revoked.")
