"""Django's PostgreSQL backend, with the service's timeouts on every connection, a
connection health check that costs no round trip, and a mode for PgBouncer.

Timeouts. Each connection gets ``lock_timeout`` and ``statement_timeout``
(DATABASE_LOCK_TIMEOUT_MS, DATABASE_STATEMENT_TIMEOUT_MS) as startup options.

Health check. With ``CONN_HEALTH_CHECKS``, Django checks a kept connection at the start
of each request that uses it, by sending ``SELECT 1``: a round trip on every request. A
connection the server has closed (a restart, a terminated backend, an idle timeout) has
something to read on its socket, the server's goodbye or end-of-file, while a healthy idle
one has nothing (the service uses no LISTEN/NOTIFY). So the check here only asks the
socket, with a zero-timeout ``select``: the first request after a database restart
reconnects, and no request pays a round trip for it (tests/test_faults.py restarts a real
server).

Transaction pooling (``DATABASE_POOLER=pgbouncer``, which sets ``POOLER`` on the
database). PgBouncer hands each transaction whichever server connection is free, so
nothing may rest on session state: it refuses startup options, and a session ``SET``
would stick to a server connection that other clients then get. So the timeouts are sent
as ``SET LOCAL`` in front of the first statement of each transaction (and of each
autocommit query), in the same network message: no extra round trip, and they end with
the transaction. The service holds no other session state: no advisory locks, no LISTEN,
no prepared statements; server-side cursors are disabled in settings
(``DISABLE_SERVER_SIDE_CURSORS``).

Prepared statements. psycopg2 sends every statement as text, which PostgreSQL parses and
plans each time: 44 % of its CPU on a transfer (profiled). The statements that run on
every request (the token lookup, the ledger's lock and insert, the idempotency key)
go through ``prepared(sql)``: the first use on a connection sends ``PREPARE`` (once, on
its own), every use then ``EXECUTE name(params)``, which PostgreSQL neither parses nor,
after its first runs, plans again. A prepared statement belongs to the session, so none
are made behind PgBouncer (``prepared`` returns the SQL as it is there). PostgreSQL keeps
a prepared statement through a rollback, so the record of what this connection has
prepared stays true whatever the transaction's fate; it starts empty on each new
connection.
"""
from __future__ import annotations

import hashlib
import re
import select
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

# Autocommit statements that may run inside the implicit transaction a multi-statement
# query opens (CREATE DATABASE, VACUUM, CREATE INDEX CONCURRENTLY... may not).
_TRANSACTIONAL = re.compile(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


_PLACEHOLDER = re.compile(r"%([s%])")


@dataclass(frozen=True)
class _Prepared:
    prepare: str  # PREPARE name AS <the statement, with $1, $2... for %s>
    execute: str  # EXECUTE name(%s, %s...): what runs it, with psycopg2's placeholders


@cache
def _prepared(sql: str) -> _Prepared:
    # The name follows from the text: the same in every thread and on every connection.
    name = "b_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    count = 0

    def number(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    body = _PLACEHOLDER.sub(number, sql)
    arguments = f"({', '.join(['%s'] * count)})" if count else ""
    return _Prepared(prepare=f"PREPARE {name} AS {body}", execute=f"EXECUTE {name}{arguments}")


def _timeouts() -> dict[str, int]:
    return {"lock_timeout": settings.DATABASE_LOCK_TIMEOUT_MS,
            "statement_timeout": settings.DATABASE_STATEMENT_TIMEOUT_MS}


class DatabaseWrapper(PostgresDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pooled = bool(self.settings_dict.get("POOLER"))
        self._timeouts_pending = False
        self._prepared: set[str] = set()  # on the current connection
        self._timeouts_sql = "".join(f"SET LOCAL {name} = {int(ms)}; " for name, ms in _timeouts().items() if ms)
        if self.pooled and self._timeouts_sql:
            self.execute_wrappers.append(self._with_timeouts)

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        if not self.pooled:
            options = " ".join(f"-c {name}={int(ms)}" for name, ms in _timeouts().items())
            params["options"] = f"{params.get('options', '')} {options}".strip()
        return params

    def get_new_connection(self, conn_params):
        self._prepared = set()
        return super().get_new_connection(conn_params)

    def prepared(self, sql: str) -> str:
        """What to execute, with the same parameters, to run ``sql`` (one statement, %s
        placeholders) as a prepared statement of this connection: it is prepared on the
        first call. ``sql`` unchanged behind PgBouncer."""
        if self.pooled:
            return sql
        statement = _prepared(sql)
        self.ensure_connection()
        if statement.prepare not in self._prepared:
            # On the driver's cursor: connection set-up, not one of the request's queries.
            with self.wrap_database_errors, self.connection.cursor() as cursor:
                cursor.execute(statement.prepare)
            self._prepared.add(statement.prepare)
        return statement.execute

    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    # --- transaction pooling -----------------------------------------------------------
    def _set_autocommit(self, autocommit: bool) -> None:
        super()._set_autocommit(autocommit)
        self._timeouts_pending = not autocommit  # the next statement opens a transaction

    def _commit(self) -> None:
        super()._commit()
        self._timeouts_pending = not self.autocommit

    def _rollback(self) -> None:
        super()._rollback()
        self._timeouts_pending = not self.autocommit

    def _with_timeouts(self, execute, sql, params, many, context):
        if self._timeouts_pending:
            self._timeouts_pending = False
            if many:
                context["cursor"].execute(self._timeouts_sql)
            else:
                sql = self._timeouts_sql + sql
        elif self.autocommit and not many and _TRANSACTIONAL.match(sql):
            sql = self._timeouts_sql + sql
        return execute(sql, params, many, context)
