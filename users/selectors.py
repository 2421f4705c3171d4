from __future__ import annotations

import hashlib

from django.db import connection
from django.utils import timezone

from banking.db import prepared
from users.models import AuthToken, User

# The user fields every request may need; any other field is deferred (loaded from the
# database if something does read it), never silently defaulted.
# (In model field order: Model.from_db expects it.)
_WANTED = {"id", "username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"}
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields if f.attname in _WANTED]
_BOOLEAN_FIELDS = {"is_active", "is_staff", "is_superuser"}
_TOKEN_SQL = (
    "SELECT t.id, " + ", ".join(f"u.{name}" for name in _USER_FIELDS)
    + f" FROM {AuthToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id"
    " WHERE t.key_hash = %s AND t.expires_at > %s AND u.is_active"
)


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def token_get_active(*, key: str) -> AuthToken | None:
    """The live token for ``key`` with its user, in one indexed query and no write;
    None when the key is unknown, expired or its user is deactivated.

    Written as one SQL statement because it runs on every request: the ORM spent more
    time building this query than the database spent answering it."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(prepared(_TOKEN_SQL), [token_hash(key), now])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [bool(v) if name in _BOOLEAN_FIELDS else v for name, v in zip(_USER_FIELDS, row[1:], strict=True)]
    user = User.from_db(connection.alias, _USER_FIELDS, values)
    token = AuthToken.from_db(connection.alias, ["id", "user_id"], [row[0], user.pk])
    token.user = user
    return token
