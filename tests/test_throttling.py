import pytest
from banking.models import RateCounter

from tests.factories import AccountFactory, UserFactory
from tests.live_server import Gunicorn, request
from transactions.models import Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-42"


@pytest.fixture(autouse=True)
def _fresh_counters():
    RateCounter.objects.all().delete()


def login(api, username, password, address="203.0.113.7"):
    return api.post("/auth/login", {"username": username, "password": password}, format="json",
                    REMOTE_ADDR=address)


def test_repeated_failed_logins_for_one_username_answer_429_with_retry_after(api, user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    assert [login(api, "alice", "wrong").status_code for _ in range(3)] == [401, 401, 401]
    blocked = login(api, "alice", "wrong")
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.json()["error"]
    assert 1 <= int(blocked["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS + 1


def test_a_blocked_username_is_refused_even_with_the_right_password(api, user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    login(api, "alice", "wrong")
    login(api, "alice", "wrong")
    assert login(api, "alice", PASSWORD).status_code == 429


def test_successful_logins_are_not_slowed(api, user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    assert [login(api, "alice", PASSWORD).status_code for _ in range(30)] == [200] * 30


def test_a_successful_login_resets_the_username_count(api, user, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    login(api, "alice", "wrong")
    login(api, "alice", "wrong")
    assert login(api, "alice", PASSWORD).status_code == 200
    assert [login(api, "alice", "wrong").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_failures_from_one_address_across_usernames_answer_429(api, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    statuses = [login(api, f"guess{i}", "wrong").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert login(api, "guess9", "wrong", address="198.51.100.1").status_code == 401  # another address


def test_writes_past_the_per_user_rate_answer_429_and_move_nothing(alice, bob, account, other_account, settings):
    settings.WRITE_THROTTLE_RATE = "3/minute"
    body = {"account_id": account.pk, "amount": "1.00"}
    statuses = [alice.post("/transactions/deposit", body, format="json").status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = alice.post("/transactions/deposit", body, format="json")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert balance_get(account_id=account.pk) == 3
    # Another user has a budget of their own; reads are never limited.
    assert bob.post("/transactions/deposit", {"account_id": other_account.pk, "amount": "1.00"},
                    format="json").status_code == 201
    assert alice.get(f"/accounts/{account.pk}/balance").status_code == 200


def test_write_rate_off_disables_the_limit(alice, account, settings):
    settings.WRITE_THROTTLE_RATE = "off"
    for _ in range(10):
        assert alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1"}, format="json").status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_limits_hold_across_two_server_processes():
    """Two separate gunicorn servers (as on two app machines) share the counters."""
    user = UserFactory(username="shared", password=PASSWORD)
    account = AccountFactory(user=user)
    _, token = token_issue(user=user)
    env = {"WRITE_THROTTLE_RATE": "4/minute", "LOGIN_FAILURES_PER_USERNAME": "3"}
    first, second = Gunicorn(workers=1, env=env).start(), Gunicorn(workers=1, env=env).start()
    try:
        servers = [first.port, second.port] * 3
        writes = [request(port, "POST", "/transactions/deposit", {"account_id": account.pk, "amount": "1.00"},
                          token)[0] for port in servers[:5]]
        logins = [request(port, "POST", "/auth/login", {"username": "shared", "password": "nope"})[0]
                  for port in servers[:4]]
    finally:
        first.stop()
        second.stop()
    assert writes == [201, 201, 201, 201, 429]
    assert logins == [401, 401, 401, 429]
    assert Transaction.objects.filter(account=account).count() == 4


def test_counters_keep_one_row_per_subject(alice, account, settings):
    settings.WRITE_THROTTLE_RATE = "50/minute"
    for _ in range(5):
        alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, format="json")
    (counter,) = RateCounter.objects.all()
    assert counter.hits == 5


def test_default_write_rate_is_100_per_second(monkeypatch):
    """Read from a fresh settings module with the variable unset, so that the answer does
    not depend on the environment the suite runs in."""
    import importlib

    from banking.settings import base

    monkeypatch.delenv("WRITE_THROTTLE_RATE", raising=False)
    try:
        assert importlib.reload(base).WRITE_THROTTLE_RATE == "100/second"
        monkeypatch.setenv("WRITE_THROTTLE_RATE", "7/minute")
        assert importlib.reload(base).WRITE_THROTTLE_RATE == "7/minute"
    finally:
        monkeypatch.undo()
        importlib.reload(base)
