"""What an answer's format follows: the Accept header and ``?format=``, with JSON for
every client that takes it (the fast path of ``banking.negotiation``) and DRF's rules
for everything else."""
import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; indent=2",
                                    "text/html, application/json;q=0.9"])
def test_a_client_that_takes_json_gets_json(alice, account, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = alice.get(f"/accounts/{account.pk}/balance", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["balance"] == "0.00"


def test_a_client_that_takes_only_html_is_refused_with_406_in_json(alice, account):
    response = alice.get(f"/accounts/{account.pk}/balance", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert "error" in response.json()


def test_the_statement_still_answers_csv_when_asked(alice, account, fund):
    fund(account, "5.00")
    assert alice.get(f"/accounts/{account.pk}/statement", HTTP_ACCEPT="text/csv")["Content-Type"].startswith("text/csv")
    assert alice.get(f"/accounts/{account.pk}/statement?format=csv")["Content-Type"].startswith("text/csv")
