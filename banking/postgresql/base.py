"""Django's PostgreSQL backend, with a connection health check that costs no round trip.

With ``CONN_HEALTH_CHECKS``, Django checks a kept connection at the start of each request
that uses it, by sending ``SELECT 1``: a round trip on every request. A connection the
server has closed (a restart, a terminated backend, an idle timeout) has something to
read on its socket, the server's goodbye or end-of-file, while a healthy idle one has
nothing (the service uses no LISTEN/NOTIFY). So the check here only asks the socket,
with a zero-timeout ``select``: the first request after a database restart reconnects,
and no request pays a round trip for it (tests/test_faults.py restarts a real server).
"""
from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper


class DatabaseWrapper(PostgresDatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
