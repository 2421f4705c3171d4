"""Migration operations shared by the apps."""
from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently


class AddIndexWithoutBlocking(AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, so that indexing a table the ledger
    writes to on every request (events: two rows per transfer) does not stop its writes
    for as long as the build takes; a plain ``CREATE INDEX`` elsewhere (SQLite has no
    concurrent build, and its writers are serialized anyway). The migration must set
    ``atomic = False``."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if schema_editor.connection.vendor == "postgresql" else super(AddIndexConcurrently, self)
        operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if schema_editor.connection.vendor == "postgresql" else super(AddIndexConcurrently, self)
        operation.database_backwards(app_label, schema_editor, from_state, to_state)
