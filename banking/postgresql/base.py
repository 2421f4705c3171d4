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
no prepared statements (psycopg2 prepares none); server-side cursors are disabled in
settings (``DISABLE_SERVER_SIDE_CURSORS``).
"""
from __future__ import annotations

import re
import select

from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

# Autocommit statements that may run inside the implicit transaction a multi-statement
# query opens (CREATE DATABASE, VACUUM, CREATE INDEX CONCURRENTLY... may not).
_TRANSACTIONAL = re.compile(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _timeouts() -> dict[str, int]:
    return {"lock_timeout": settings.DATABASE_LOCK_TIMEOUT_MS,
            "statement_timeout": settings.DATABASE_STATEMENT_TIMEOUT_MS}


class DatabaseWrapper(PostgresDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pooled = bool(self.settings_dict.get("POOLER"))
        self._timeouts_pending = False
        self._timeouts_sql = "".join(f"SET LOCAL {name} = {int(ms)}; " for name, ms in _timeouts().items() if ms)
        if self.pooled and self._timeouts_sql:
            self.execute_wrappers.append(self._with_timeouts)

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        if not self.pooled:
            options = " ".join(f"-c {name}={int(ms)}" for name, ms in _timeouts().items())
            params["options"] = f"{params.get('options', '')} {options}".strip()
        return params

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
