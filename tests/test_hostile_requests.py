"""Requests an attacker (or a careless client) sends: each gets a clear 4xx JSON error,
never a 5xx, and changes nothing."""
import json
import logging
from decimal import Decimal

import pytest

from banking.roles import TELLER
from tests.factories import UserFactory, staff_member
from transactions.models import Transaction
from users.models import User

pytestmark = pytest.mark.django_db

NESTED = "[" * 1000 + "]" * 1000


def _post_raw(client, path: str, raw: str | bytes):
    return client.post(path, data=raw, content_type="application/json")


@pytest.mark.parametrize("path", ["/transactions/deposit", "/transactions/transfer", "/accounts"])
def test_deeply_nested_json_is_400_on_authenticated_endpoints(alice, path):
    response = _post_raw(alice, path, NESTED)
    assert response.status_code == 400
    assert response.json()["error"] == "Malformed JSON: nested too deeply."


@pytest.mark.parametrize("path", ["/auth/login", "/users"])
def test_deeply_nested_json_is_400_on_open_endpoints(api, path):
    response = _post_raw(api, path, NESTED)
    assert response.status_code == 400
    assert response.json()["error"] == "Malformed JSON: nested too deeply."


def test_deeply_nested_json_logs_no_traceback(alice, caplog):
    with caplog.at_level(logging.INFO):
        _post_raw(alice, "/transactions/deposit", NESTED)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)


def test_admin_bodies_are_held_to_the_same_limit(staff_client_api, client):
    response = client.post("/admin/login/", data="x" * (65 * 1024), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_body_over_a_mebibyte_is_413_before_it_is_read(alice, account):
    body = json.dumps({"account_id": account.pk, "amount": "1.00", "pad": "x" * (1100 * 1024)})
    response = _post_raw(alice, "/transactions/deposit", body)
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large: at most 65536 bytes."}
    assert not Transaction.objects.exists()


def test_content_length_over_the_limit_is_413_without_reading_the_body(alice, account):
    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    response = alice.generic(
        "POST", "/transactions/deposit", data=b"", content_type="application/json",
        CONTENT_LENGTH=str(64 * 1024 + 1), **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 413


def test_duplicate_keys_are_400_naming_the_key(alice, account, fund):
    fund(account, "100.00")
    raw = '{"account_id": %d, "amount": "1.00", "amount": "7.00"}' % account.pk
    response = _post_raw(alice, "/transactions/withdraw", raw)
    assert response.status_code == 400
    assert response.json()["error"] == 'Malformed JSON: duplicate key "amount"'
    assert Transaction.objects.filter(account=account).count() == 1


def test_duplicate_keys_in_nested_objects_are_400(alice):
    response = _post_raw(alice, "/accounts", '{"bank_name": "B", "branch": "x", "x": {"a": 1, "a": 2}}')
    assert response.status_code == 400
    assert "duplicate key" in response.json()["error"]


@pytest.mark.parametrize("body, key", [
    ({"bank_name": "0", "branch": 0}, "branch"),
    ({"bank_name": 12, "branch": "Main"}, "bank_name"),
    ({"bank_name": ["B"], "branch": "Main"}, "bank_name"),
    ({"bank_name": True, "branch": "Main"}, "bank_name"),
])
def test_account_text_fields_take_only_strings(alice, body, key):
    response = alice.post("/accounts", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == f"{key} must be a string."


@pytest.mark.parametrize("raw", ['"{id}"', '"{id}.0"', "{id}.5", "true"])
def test_account_ids_take_only_json_integers(alice, account, raw):
    body = '{"account_id": %s, "amount": "1.00"}' % raw.format(id=account.pk)
    response = _post_raw(alice, "/transactions/deposit", body)
    assert response.status_code == 400
    assert response.json()["error"] == "account_id must be a whole number (a JSON integer)."
    assert not Transaction.objects.exists()


def test_an_account_id_written_with_a_zero_fraction_is_the_same_integer(alice, account):
    response = _post_raw(alice, "/transactions/deposit", '{"account_id": %d.0, "amount": "1.00"}' % account.pk)
    assert response.status_code == 201
    assert response.json()["account_id"] == account.pk


def test_note_takes_only_a_string(alice, account):
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00", "note": 5}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "note must be a string."


@pytest.mark.parametrize("field", ["username", "password", "email", "first_name"])
def test_registration_fields_take_only_strings(api, field):
    body = {"username": "carol", "password": "carol-S3cret-pass", "email": "c@example.com", "first_name": "C"}
    body[field] = 12345678901
    response = api.post("/users", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == f"{field} must be a string."
    assert not User.objects.filter(username="carol").exists()


def test_login_fields_take_only_strings(api, user):
    response = api.post("/auth/login", {"username": ["alice"], "password": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "username must be a string."


@pytest.mark.parametrize("lookalike", ["ａｌｉｃｅ", "ａlice", "ALICE", "Alice"])
def test_lookalike_usernames_cannot_register(api, user, lookalike):
    response = api.post("/users", {"username": lookalike, "password": "Xyz-S3cret-pass"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Username already exists."
    assert User.objects.count() == 1


def test_usernames_that_differ_only_by_case_folding_are_the_same(api):
    UserFactory(username="straße")
    response = api.post("/users", {"username": "STRASSE", "password": "Xyz-S3cret-pass"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Username already exists."


def test_fullwidth_username_is_stored_in_its_plain_form(api):
    response = api.post("/users", {"username": "ｃａｒｏｌ", "password": "Xyz-S3cret-pass"}, format="json")
    assert response.status_code == 201
    assert response.json()["username"] == "carol"


def test_a_username_is_checked_in_its_normalised_form(api):
    # U+FDFA is one character that NFKC turns into 18, spaces included.
    response = api.post("/users", {"username": "\ufdfa" * 9, "password": "Xyz-S3cret-pass"}, format="json")
    assert response.status_code == 400
    assert not User.objects.exists()


def test_notes_are_checked_by_the_service_too(account):
    from banking.errors import ValidationFailed
    from transactions.services import deposit_create

    with pytest.raises(ValidationFailed, match="control or invisible"):
        deposit_create(account_id=account.pk, amount=Decimal("1.00"), note="a\u202eb", initiated_by=account.user,
                       owner=None)


def test_login_finds_the_user_whatever_the_case_or_width(api, user):
    response = api.post("/auth/login", {"username": "ＡＬＩＣＥ", "password": "correct-horse-battery-42"}, format="json")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


@pytest.mark.parametrize("username", ["ali\u202ece", "bob\u200b", "eve\x07", "mal\u2066lory"])
def test_usernames_with_control_or_format_characters_are_refused(api, username):
    response = api.post("/users", {"username": username, "password": "Xyz-S3cret-pass"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "username must not contain control or invisible formatting characters."
    assert not User.objects.exists()


@pytest.mark.parametrize("note", ["rent \u202efdp.exe", "line\nbreak", "tab\there", "zero\u200bwidth"])
def test_notes_with_control_or_format_characters_are_refused(alice, account, note):
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00", "note": note}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "note must not contain control or invisible formatting characters."
    assert not Transaction.objects.exists()


def test_emoji_sequences_with_joiners_are_allowed_in_notes(alice, account):
    note = "family 👨\u200d👩\u200d👧 trip"
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00", "note": note}, format="json")
    assert response.status_code == 201
    assert response.json()["note"] == note


@pytest.mark.parametrize("how", [{"format": "csv"}, {"HTTP_ACCEPT": "text/csv"}])
def test_statement_errors_are_json_even_when_csv_is_asked_for(alice, account, how):
    query = {"format": "csv"} if "format" in how else {}
    headers = {k: v for k, v in how.items() if k.startswith("HTTP_")}
    for path, params, status in [
        (f"/accounts/{account.pk}/statement", {**query, "from": "yesterday"}, 400),
        ("/accounts/999999/statement", query, 404),
    ]:
        response = alice.get(path, params, **headers)
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert "error" in json.loads(response.content)


def test_statement_401_is_json_when_csv_is_asked_for(api, account):
    response = api.get(f"/accounts/{account.pk}/statement", {"format": "csv"})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"].startswith("Authentication token required")


@pytest.mark.parametrize("path", [
    "/accounts/{bad}", "/accounts/{bad}/balance", "/accounts/{bad}/statement", "/transactions/{bad}",
])
@pytest.mark.parametrize("bad", ["abc", "0", "99999999999999999999999", "999999", "-1", "１"])
def test_every_bad_account_id_is_the_same_404(alice, path, bad):
    response = alice.get(path.format(bad=bad))
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}


@pytest.mark.parametrize("bad", ["abc", "0", "999999"])
def test_every_bad_transaction_id_is_the_same_404(client_for, bad):
    staff = client_for(staff_member(TELLER))
    response = staff.post(f"/transactions/{bad}/reverse", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "Transaction not found."}


def test_unknown_path_is_a_json_404(alice):
    response = alice.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


def test_bearer_is_accepted_as_a_synonym_of_token(api, user, account, fund):
    from users.services import token_issue

    fund(account, "12.00")
    _, key = token_issue(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 200
    assert response.json() == {"balance": "12.00", "available_balance": "12.00"}


def test_bearer_with_a_wrong_token_is_401(api, account):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token."}
