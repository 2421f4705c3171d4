"""Double entry, step 3 of 3: every entry belongs to a posting; transfer_ref goes (the
posting ties the legs); and on PostgreSQL the database itself enforces the books:

- ``ledger_posting_balanced``, a constraint trigger deferred to commit, so that it sees
  all of a posting's entries: a successful posting's entries sum to zero (at least two of
  them), a refused one has exactly one; every entry has its posting's kind and status;
  an entry has a sequence number and running balance exactly when its account is a
  customer's;
- ``ledger_posting_has_entries``, also at commit: no posting without entries;
- postings are append-only, like entries.
"""
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION ledger_check_posting(posting bigint) RETURNS void AS $$
DECLARE
    p record;
    total numeric;
    entries int;
    mismatched int;
    misplaced int;
BEGIN
    SELECT kind, status INTO p FROM transactions_posting WHERE id = posting;
    SELECT COALESCE(SUM(CASE WHEN e.direction = 'CREDIT' THEN e.amount ELSE -e.amount END), 0),
           COUNT(*),
           COUNT(*) FILTER (WHERE e.transaction_type <> p.kind OR e.status <> p.status),
           COUNT(*) FILTER (WHERE (a.system_code IS NULL) <> (e.seq IS NOT NULL))
      INTO total, entries, mismatched, misplaced
      FROM transactions_transaction e JOIN accounts_account a ON a.id = e.account_id
     WHERE e.posting_id = posting;
    IF entries = 0 THEN
        RAISE EXCEPTION 'posting % has no entries', posting USING ERRCODE = 'check_violation';
    END IF;
    IF p.status = 'SUCCESS' AND (entries < 2 OR total <> 0) THEN
        RAISE EXCEPTION 'posting % is unbalanced: its % entries sum to %', posting, entries, total
            USING ERRCODE = 'check_violation', HINT = 'Every movement debits and credits equal amounts.';
    END IF;
    IF p.status = 'FAILED' AND entries <> 1 THEN
        RAISE EXCEPTION 'refused posting % has % entries; it records one attempt', posting, entries
            USING ERRCODE = 'check_violation';
    END IF;
    IF mismatched > 0 THEN
        RAISE EXCEPTION 'posting %: % entries differ from its kind % or status %', posting, mismatched, p.kind, p.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF misplaced > 0 THEN
        RAISE EXCEPTION 'posting %: a running balance belongs on customer entries, and only there', posting
            USING ERRCODE = 'check_violation';
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledger_entry_check() RETURNS trigger AS $$
BEGIN
    PERFORM ledger_check_posting(NEW.posting_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledger_posting_check() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM transactions_transaction WHERE posting_id = NEW.id) THEN
        RAISE EXCEPTION 'posting % has no entries', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_posting_balanced
    AFTER INSERT ON transactions_transaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_check();

CREATE CONSTRAINT TRIGGER ledger_posting_has_entries
    AFTER INSERT ON transactions_posting DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_check();

CREATE OR REPLACE FUNCTION ledger_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % of % % refused', TG_OP, TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a reversal instead of changing or deleting a ledger row.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER posting_append_only
    BEFORE UPDATE OR DELETE ON transactions_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_mutation();
"""

DROP = """
DROP TRIGGER IF EXISTS posting_append_only ON transactions_posting;
DROP TRIGGER IF EXISTS ledger_posting_has_entries ON transactions_posting;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON transactions_transaction;
DROP FUNCTION IF EXISTS ledger_posting_check();
DROP FUNCTION IF EXISTS ledger_entry_check();
DROP FUNCTION IF EXISTS ledger_check_posting(bigint);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("transactions", "0006_postings_from_rows")]

    operations = [
        migrations.RemoveIndex(model_name="transaction", name="ledger_transfer_ref_idx"),
        migrations.RemoveField(model_name="transaction", name="transfer_ref"),
        migrations.AlterField(
            model_name="transaction", name="posting",
            field=models.ForeignKey(on_delete=models.deletion.PROTECT, related_name="entries", to="transactions.posting"),
        ),
        migrations.AddIndex(model_name="transaction", index=models.Index(fields=["posting"], name="ledger_posting_idx")),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("balance_after__isnull", True), ("seq__isnull", True)), models.Q(("balance_after__isnull", False), ("seq__isnull", False)), _connector="OR"), name="ledger_seq_with_balance"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
