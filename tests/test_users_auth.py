from datetime import timedelta

import pytest
from django.utils import timezone

from users.models import AuthToken, User
from users.selectors import token_hash

pytestmark = pytest.mark.django_db

NEW_USER = {
    "username": "testuser",
    "email": "test@example.com",
    "password": "testpass123",
    "first_name": "Test",
    "last_name": "User",
}


def login(api, username, password):
    return api.post("/auth/login", {"username": username, "password": password}, format="json")


def test_register_answers_201_with_the_contract_fields(api):
    response = api.post("/users", NEW_USER, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "email", "first_name", "last_name", "date_joined", "is_active"}
    assert body["username"] == "testuser"
    assert body["email"] == "test@example.com"
    assert body["first_name"] == "Test" and body["last_name"] == "User"
    assert body["is_active"] is True
    assert User.objects.get(pk=body["id"]).check_password("testpass123")


def test_register_never_echoes_the_password_or_its_hash(api):
    text = api.post("/users", NEW_USER, format="json").content.decode()
    assert "testpass123" not in text and "md5$" not in text and "password" not in text


def test_register_duplicate_username_is_400_in_any_case(api):
    api.post("/users", NEW_USER, format="json")
    response = api.post("/users", {**NEW_USER, "username": "TestUser", "email": "x@example.com"}, format="json")
    assert response.status_code == 400
    assert "Username already exists" in response.json()["error"]
    assert User.objects.count() == 1


def test_register_duplicate_email_is_400(api):
    api.post("/users", NEW_USER, format="json")
    response = api.post("/users", {**NEW_USER, "username": "other", "email": "TEST@example.com"}, format="json")
    assert response.status_code == 400
    assert "Email already exists" in response.json()["error"]


@pytest.mark.parametrize("password", ["pass123", "12345678", "password", "testuser1"])
def test_register_weak_password_is_400_and_creates_nothing(api, password):
    response = api.post("/users", {**NEW_USER, "password": password}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Password is not strong enough")
    assert not User.objects.exists()


@pytest.mark.parametrize("missing", ["username", "password"])
def test_register_missing_required_field_is_400(api, missing):
    body = {k: v for k, v in NEW_USER.items() if k != missing}
    response = api.post("/users", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == f"{missing.capitalize()} is required."


def test_register_invalid_email_is_400(api):
    response = api.post("/users", {**NEW_USER, "email": "not-an-email"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"].lower()


def test_register_email_is_optional(api):
    body = {k: v for k, v in NEW_USER.items() if k != "email"}
    assert api.post("/users", body, format="json").status_code == 201


def test_login_answers_token_user_id_username_and_message(api, user):
    response = login(api, "alice", "correct-horse-battery-42")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "user_id", "username", "message"}
    assert body["user_id"] == user.pk and body["username"] == "alice"
    assert body["message"] == "Login successful"
    assert len(body["token"]) == 40


def test_login_token_authenticates_requests(api, user):
    token = login(api, "alice", "correct-horse-battery-42").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/accounts/all").status_code == 200


def test_login_wrong_password_is_401(api, user):
    response = login(api, "alice", "wrong-password")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials."}


def test_login_unknown_user_is_401(api):
    assert login(api, "nobody", "whatever-pass").status_code == 401


def test_login_inactive_user_is_401(api, user):
    user.is_active = False
    user.save()
    assert login(api, "alice", "correct-horse-battery-42").status_code == 401


def test_login_missing_fields_is_400(api):
    response = api.post("/auth/login", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "Username and password are required" in response.json()["error"]


def test_token_is_stored_only_as_a_digest(api, user):
    token = login(api, "alice", "correct-horse-battery-42").json()["token"]
    stored = AuthToken.objects.get(user=user)
    assert stored.key_hash == token_hash(token)
    assert token not in {stored.key_hash, stored.key_prefix}


def test_logout_revokes_the_presented_token(api, user):
    token = login(api, "alice", "correct-horse-battery-42").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.post("/auth/logout")
    assert response.status_code == 200
    assert response.json() == {"message": "Successfully logged out"}
    again = api.get("/accounts/all")
    assert again.status_code == 401
    assert "error" in again.json()


def test_logout_keeps_the_users_other_devices_logged_in(api, client_for, user):
    phone = client_for(user)
    laptop = client_for(user)
    assert phone.post("/auth/logout").status_code == 200
    assert laptop.get("/accounts/all").status_code == 200


def test_logout_all_revokes_every_token_of_the_user(client_for, user):
    phone, laptop = client_for(user), client_for(user)
    assert phone.post("/auth/logout-all").status_code == 200
    assert laptop.get("/accounts/all").status_code == 401


def test_logout_without_token_is_401(api):
    response = api.post("/auth/logout")
    assert response.status_code == 401
    assert "Authentication token required" in response.json()["error"]


def test_expired_token_is_401(alice, user):
    AuthToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = alice.get("/accounts/all")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token."}


def test_token_of_deactivated_user_is_401(alice, user):
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert alice.get("/accounts/all").status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token not-a-real-token", "Token " + "x" * 500])
def test_malformed_or_unknown_token_is_401(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/accounts/all")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_login_ignores_a_stale_token_header(api, user):
    api.credentials(HTTP_AUTHORIZATION="Token stale")
    assert login(api, "alice", "correct-horse-battery-42").status_code == 200
