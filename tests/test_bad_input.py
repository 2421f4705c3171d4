"""Bad input gets a clear 4xx JSON error, never a 5xx, and changes nothing."""
import json

import pytest

from transactions.models import Transaction

pytestmark = pytest.mark.django_db

POSITIVE = "Amount must be positive."
A_NUMBER = 'Amount must be a decimal number such as "100.00".'
A_STRING = 'Amount must be a decimal string such as "100.00".'
TOO_BIG = "Amount must not exceed 1000000000.00."
BAD_AMOUNTS = [
    ("zero", "0", POSITIVE), ("zero-number", 0, POSITIVE), ("zero-cents", "0.00", POSITIVE),
    ("negative", "-5.00", POSITIVE), ("negative-number", -5, POSITIVE), ("letters", "abc", A_NUMBER),
    ("nan", "NaN", A_NUMBER), ("infinity", "Infinity", A_NUMBER),
    ("three-places", "1.005", "Amount must have at most 2 decimal places."),
    ("three-places-number", 1.005, "Amount must have at most 2 decimal places."),
    ("huge", "1000000000000.00", TOO_BIG), ("over-max", "1000000000.01", TOO_BIG),
    ("exponent", "1e3", A_NUMBER), ("empty", "", "Amount is required."), ("null", None, "Amount may not be null."),
    ("bool", True, A_STRING), ("list", ["1"], A_STRING), ("object", {"v": 1}, A_STRING), ("comma", "1,00", A_NUMBER),
]


def _post_with_amount(client, account, path, amount, **extra):
    body = {"amount": amount, **extra}
    if path.endswith("transfer"):
        body.setdefault("from_account_id", account.pk)
    else:
        body.setdefault("account_id", account.pk)
    return client.post(path, body, format="json")


@pytest.mark.parametrize("path", ["/transactions/deposit", "/transactions/withdraw", "/transactions/transfer"])
@pytest.mark.parametrize("label, amount, message", BAD_AMOUNTS, ids=[b[0] for b in BAD_AMOUNTS])
def test_bad_amounts_are_400_and_move_nothing(alice, account, other_account, fund, path, label, amount, message):
    fund(account, "100.00")
    before = Transaction.objects.count()
    response = _post_with_amount(alice, account, path, amount, to_account_id=other_account.pk)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == message
    assert Transaction.objects.count() == before


@pytest.mark.parametrize("path", ["/transactions/deposit", "/transactions/withdraw", "/transactions/transfer"])
def test_missing_amount_is_400(alice, account, other_account, path):
    body = {"account_id": account.pk, "from_account_id": account.pk, "to_account_id": other_account.pk}
    response = alice.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Amount is required."


def test_json_number_amount_is_accepted_exactly(alice, account):
    response = alice.post("/transactions/deposit", data='{"account_id": %d, "amount": 10.10}' % account.pk,
                          content_type="application/json")
    assert response.status_code == 201
    assert response.json()["amount"] == "10.10"


@pytest.mark.parametrize(
    "raw",
    ['{"account_id": 1, "amount": "1.00"', "not json", '{"amount": NaN}', "", "[1, 2", '{"a": Infinity}'],
)
def test_malformed_json_is_400(alice, raw):
    response = alice.post("/transactions/deposit", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_400(alice, raw):
    response = alice.post("/transactions/deposit", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_non_json_content_type_is_415(alice, account):
    response = alice.post("/transactions/deposit", data="account_id=1&amount=5", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]


NOT_AN_INTEGER = "account_id must be a whole number (a JSON integer)."
OUT_OF_RANGE = "account_id must be a whole number from 1 to 9223372036854775807."


@pytest.mark.parametrize("account_id, message", [
    ("abc", NOT_AN_INTEGER), (-1, OUT_OF_RANGE), (0, OUT_OF_RANGE), (1.5, NOT_AN_INTEGER), (2**70, OUT_OF_RANGE),
    (None, "Account id may not be null."), (True, NOT_AN_INTEGER), ("", NOT_AN_INTEGER), ([1], NOT_AN_INTEGER),
])
def test_invalid_account_ids_are_400(alice, account, account_id, message):
    before = Transaction.objects.count()
    response = alice.post("/transactions/deposit", {"account_id": account_id, "amount": "1.00"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == message
    assert Transaction.objects.count() == before


@pytest.mark.parametrize("field", ["from_account_id", "to_account_id"])
def test_invalid_transfer_ids_are_400(alice, account, other_account, field):
    body = {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "1.00", field: "x"}
    response = alice.post("/transactions/transfer", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(field)


def test_note_longer_than_255_characters_is_400(alice, account):
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00", "note": "n" * 256}, format="json")
    assert response.status_code == 400
    assert "note" in response.json()["error"]
    assert not Transaction.objects.exists()


def test_validation_errors_carry_per_field_details(alice):
    response = alice.post("/transactions/deposit", {}, format="json")
    body = response.json()
    assert response.status_code == 400
    assert set(body["details"]) == {"account_id", "amount"}


def test_unicode_note_round_trips(alice, account):
    note = "Loyer — février 🏠"
    response = alice.post("/transactions/deposit", data=json.dumps({"account_id": account.pk, "amount": "1", "note": note}),
                          content_type="application/json")
    assert response.json()["note"] == note


def test_oversized_body_is_413_and_moves_nothing(alice, account, settings):
    settings.API_MAX_BODY_BYTES = 1024
    body = '{"account_id": %d, "amount": "1.00", "note": "%s"}' % (account.pk, "x" * 2000)
    response = alice.post("/transactions/deposit", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "Request body too large: at most 1024 bytes."
    assert not Transaction.objects.exists()


def test_default_body_limit_is_64_kib(alice, account):
    body = '{"account_id": %d, "amount": "1.00", "pad": "%s"}' % (account.pk, "x" * (64 * 1024))
    assert alice.post("/transactions/deposit", data=body, content_type="application/json").status_code == 413


@pytest.mark.parametrize("path", ["/transactions/deposit", "/accounts", "/users", "/auth/login"])
@pytest.mark.parametrize("body, message", [
    ("null", "No data provided"),
    ("[1, 2]", "Invalid data. Expected a dictionary, but got list."),
    ('"text"', "Invalid data. Expected a dictionary, but got str."),
])
def test_a_body_that_is_no_object_is_400_with_what_was_sent(alice, path, body, message):
    """The input serializers are shared between requests; every request still gets
    DRF's own answer for a body of the wrong shape, with details."""
    response = alice.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == message
    assert response.json()["details"] == {"non_field_errors": [message]}


def test_a_refused_body_leaves_nothing_behind_for_the_next_request(alice, account):
    """Validation stores nothing on the shared serializer: a bad request's errors do not
    leak into the next, good one."""
    refused = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "-1"}, format="json")
    assert refused.status_code == 400
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "5.00"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["new_balance"] == "5.00"
