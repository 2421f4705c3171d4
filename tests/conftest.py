from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from banking.roles import TELLER
from tests.factories import AccountFactory, UserFactory, staff_member
from transactions import services
from transactions.selectors import balance_get, balance_recompute
from users.services import token_issue


@pytest.fixture(autouse=True)
def _responses_match_the_openapi_schema(monkeypatch):
    """Every API response any test receives must match the documented schema."""
    from rest_framework.test import APIClient

    from tests.openapi_validator import check_response

    original = APIClient.request

    def checked(self, **request):
        response = original(self, **request)
        check_response(request["REQUEST_METHOD"], request["PATH_INFO"], response)
        return response

    monkeypatch.setattr(APIClient, "request", checked)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres"):
            # First, so that a test on SQLite is skipped before its other fixtures start
            # servers against a database they cannot reach.
            item.fixturenames.insert(0, "_postgres_required")


@pytest.fixture
def _postgres_required():
    if connection.vendor != "postgresql":
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("this test needs PostgreSQL, but DATABASE_URL does not point at one")
        pytest.skip("needs PostgreSQL (run scripts/test.sh)")


@pytest.fixture
def api() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def client_for():
    """Returns a function: user -> APIClient authenticated with a fresh token."""

    def make(user) -> APIClient:
        _, key = token_issue(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def user():
    return UserFactory(username="alice", first_name="Alice", last_name="Smith")


@pytest.fixture
def other_user():
    return UserFactory(username="bob", first_name="Bob", last_name="Jones")


@pytest.fixture
def alice(client_for, user) -> APIClient:
    return client_for(user)


@pytest.fixture
def bob(client_for, other_user) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def staff_client_api(client_for) -> APIClient:
    """A client authenticated as a staff member: a teller (may post reversals)."""
    return client_for(staff_member(TELLER, username="staffer"))


@pytest.fixture
def account(user):
    return AccountFactory(user=user)


@pytest.fixture
def other_account(other_user):
    return AccountFactory(user=other_user, bank_name="Other Bank", branch="Other Branch")


@pytest.fixture
def fund():
    """Returns a function that deposits ``amount`` into an account through the service."""

    def deposit(account, amount: str):
        return services.deposit_create(
            account_id=account.pk, amount=Decimal(amount), note="funding",
            initiated_by=account.user, owner=account.user,
        )

    return deposit


def assert_ledger_consistent(account) -> Decimal:
    """The running balance must equal the full aggregation of the ledger rows."""
    running = balance_get(account_id=account.pk)
    assert running == balance_recompute(account_id=account.pk)
    return running
