import difflib
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import UserFactory
from tests.openapi_validator import schema, seen_operations

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_committed_openapi_yaml_matches_the_code(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", file=str(generated), validate=True, fail_on_warn=True)
    committed = (ROOT / "openapi.yaml").read_text()
    diff = "\n".join(difflib.unified_diff(committed.splitlines(), generated.read_text().splitlines(),
                                          "openapi.yaml", "generated", lineterm=""))
    assert not diff, (
        "openapi.yaml is out of date: run  .venv/bin/python manage.py spectacular --file openapi.yaml\n" + diff[:3000]
    )


def test_schema_is_served_and_declares_the_token_scheme(api):
    response = api.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`Token <token>` (or `Bearer <token>`), with the token returned by POST /auth/login.",
    }
    deposit = body["paths"]["/transactions/deposit"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in deposit["parameters"])
    assert {"201", "400", "401", "404", "409"} <= set(deposit["responses"])


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_use_only_local_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html


def test_every_documented_operation_is_exercised_and_conforms(api, client_for, user, account, other_account, fund):
    """Walk every operation once (the autouse validator checks each answer), then check
    none was left out."""
    seen_operations.clear()
    alice = client_for(user)
    staff = client_for(UserFactory(username="staffer", is_staff=True, is_superuser=True))
    deposit = fund(account, "100.00")
    api.post("/users", {"username": "newbie", "password": "a-long-passphrase-9"}, format="json")
    api.post("/auth/login", {"username": "newbie", "password": "a-long-passphrase-9"}, format="json")
    api.get("/healthz")
    alice.post("/accounts", {"bank_name": "B", "branch": "C"}, format="json")
    alice.get("/accounts")
    alice.get("/accounts/all")
    alice.get(f"/accounts/{account.pk}")
    alice.get(f"/accounts/{account.pk}/balance", {"at": "2030-01-01"})
    alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, format="json")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "1.00"}, format="json")
    alice.post("/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk,
                                          "amount": "1.00"}, format="json")
    alice.get(f"/transactions/{account.pk}", {"type": "DEPOSIT"})
    alice.get(f"/accounts/{account.pk}/statement")
    staff.post(f"/transactions/{deposit.pk}/reverse", {}, format="json")
    staff.post(f"/accounts/{account.pk}/freeze", {"reason": "checking a payment"}, format="json")
    staff.post(f"/accounts/{account.pk}/unfreeze", {"reason": "payment checked"}, format="json")
    empty = alice.post("/accounts", {"bank_name": "B", "branch": "To close"}, format="json").json()
    alice.post(f"/accounts/{empty['id']}/close", {"reason": "no longer needed"}, format="json")
    captured = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "2.00"}, format="json").json()
    payable = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "1.00",
                                                 "to_account_id": other_account.pk}, format="json").json()
    voided = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "1.00"}, format="json").json()
    alice.get("/transactions/holds", {"status": "PENDING"})
    alice.get(f"/transactions/holds/{captured['id']}")
    alice.post(f"/transactions/holds/{captured['id']}/capture", {"amount": "1.50"}, format="json")
    alice.post(f"/transactions/holds/{payable['id']}/capture", {}, format="json")
    alice.post(f"/transactions/holds/{voided['id']}/void")
    alice.get("/events", {"type": "transaction.created"})
    hook = alice.post("/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json").json()
    alice.get("/webhooks")
    alice.get(f"/webhooks/{hook['id']}")
    alice.patch(f"/webhooks/{hook['id']}", {"description": "payouts"}, format="json")
    alice.post(f"/webhooks/{hook['id']}/rotate-secret")
    alice.post(f"/webhooks/{hook['id']}/test")
    alice.get(f"/webhooks/{hook['id']}/deliveries")
    alice.delete(f"/webhooks/{hook['id']}")
    alice.post("/auth/logout-all")
    client_for(user).post("/auth/logout")
    documented = {(method, path) for path, item in schema()["paths"].items() for method in item}
    assert documented <= seen_operations, f"never exercised: {sorted(documented - seen_operations)}"
