"""On PostgreSQL, make ledger rows append-only in the database itself: any UPDATE or
DELETE of a row of transactions_transaction raises, whoever issues it (ORM, admin, raw
SQL, psql). TRUNCATE is left to the table owner (test suites use it to reset)."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION ledger_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % of transaction % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a reversal instead of changing or deleting a ledger row.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_append_only
    BEFORE UPDATE OR DELETE ON transactions_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_mutation();
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_append_only ON transactions_transaction;
DROP FUNCTION IF EXISTS ledger_reject_mutation();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("transactions", "0003_reversals_idempotency")]

    operations = [migrations.RunPython(forwards, backwards)]
