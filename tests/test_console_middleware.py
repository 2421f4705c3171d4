"""Sessions, the session's user and messages belong to the staff console: the console
keeps working with them, and the API neither reads nor writes a session."""
import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client):
    client.force_login(UserFactory(username="teller", is_staff=True, is_superuser=True))
    return client


def test_the_console_still_knows_its_logged_in_staff(console):
    assert console.get("/admin/accounts/account/").status_code == 200


def test_a_console_session_is_no_api_credential(console, account):
    response = console.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 401
    assert response.json()["error"].startswith("Authentication token required.")


def test_an_api_answer_sets_no_cookie(alice, account):
    response = alice.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
