import pytest
from django.db import DatabaseError

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_token_and_reports_the_database(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(api, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def down(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", down)
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
