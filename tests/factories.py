from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import Account
from users.models import User

DEFAULT_PASSWORD = "correct-horse-battery-42"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = "Test"
    last_name = "User"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password", DEFAULT_PASSWORD)
        return model_class.objects.create_user(*args, password=password, **kwargs)


def staff_member(role: str, **kwargs) -> User:
    """A staff user in one of ``banking.roles``' groups (``AUDITOR``, ``TELLER``)."""
    from django.contrib.auth.models import Group

    user = UserFactory(is_staff=True, **kwargs)
    user.groups.add(Group.objects.get(name=role))
    return user


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    user = factory.SubFactory(UserFactory)
    bank_name = "Savings Bank"
    branch = "Main Branch"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Through the service, as the API opens accounts (with their account.created event).
        from accounts.services import account_create

        return account_create(**kwargs)
