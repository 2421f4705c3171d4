"""The database settings for a pooler and for replicas, and the timeouts, which must hold
in every transaction whether or not the connection goes through PgBouncer (the test
command runs this file both ways)."""
from __future__ import annotations

import importlib
import os

import psycopg2
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

POOLED = os.environ.get("DATABASE_POOLER") == "pgbouncer"


@pytest.fixture
def fresh_settings(monkeypatch):
    """Returns a function: environment -> a freshly executed banking.settings.base."""
    from banking.settings import base

    def load(**environ):
        for name in ("DATABASE_URL", "DATABASE_POOLER", "DATABASE_REPLICA_URLS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(base)

    yield load
    monkeypatch.undo()
    importlib.reload(base)


def test_the_pgbouncer_mode_sends_no_startup_options_and_no_server_side_cursors(fresh_settings):
    database = fresh_settings(DATABASE_URL="postgres://app@db:6432/bank", DATABASE_POOLER="pgbouncer").DATABASES["default"]
    assert database["POOLER"] == "pgbouncer"
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "options" not in database.get("OPTIONS", {})


def test_an_unknown_pooler_is_refused(fresh_settings):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOLER"):
        fresh_settings(DATABASE_URL="postgres://app@db/bank", DATABASE_POOLER="pgpool")


def test_each_replica_url_is_a_database_alias_read_through_the_router(fresh_settings):
    base = fresh_settings(DATABASE_URL="postgres://app@primary/bank",
                          DATABASE_REPLICA_URLS="postgres://app@replica-a/bank, postgres://app@replica-b/bank")
    assert [alias for alias in base.DATABASES] == ["default", "replica1", "replica2"]
    assert base.DATABASES["replica2"]["HOST"] == "replica-b"
    assert base.DATABASES["replica1"]["OPTIONS"]["connect_timeout"] == 2
    assert base.DATABASES["replica1"]["TEST"] == {"MIRROR": "default"}
    assert base.DATABASE_ROUTERS == ["banking.replicas.ReplicaRouter"]


def test_replicas_without_a_postgresql_primary_are_refused(fresh_settings):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URLS"):
        fresh_settings(DATABASE_REPLICA_URLS="postgres://app@replica/bank")


def test_without_replicas_there_is_no_router(fresh_settings):
    base = fresh_settings(DATABASE_URL="postgres://app@primary/bank")
    assert list(base.DATABASES) == ["default"] and base.DATABASE_ROUTERS == []


def _current(cursor, name: str) -> str:
    cursor.execute("SELECT current_setting(%s)", [name])
    return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_transaction_has_the_lock_and_statement_timeouts():
    for _ in range(3):  # through a pooler, each may run on another server connection
        with transaction.atomic(), connection.cursor() as cursor:
            assert (_current(cursor, "lock_timeout"), _current(cursor, "statement_timeout")) == ("1s", "10s")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_query_outside_a_transaction_has_the_statement_timeout():
    with connection.cursor() as cursor:
        assert _current(cursor, "statement_timeout") == "10s"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not POOLED, reason="runs in the test command's pass through PgBouncer")
def test_through_pgbouncer_no_setting_outlives_its_transaction():
    """The timeouts are SET LOCAL: a bare client of the same pool, sending nothing of its
    own, finds the server connections as PostgreSQL made them."""
    for _ in range(5):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    s = connection.settings_dict
    bare = psycopg2.connect(host=s["HOST"], port=s["PORT"], user=s["USER"], dbname=s["NAME"])
    try:
        bare.autocommit = True
        with bare.cursor() as cursor:
            for _ in range(10):
                assert (_current(cursor, "lock_timeout"), _current(cursor, "statement_timeout")) == ("0", "0")
    finally:
        bare.close()
