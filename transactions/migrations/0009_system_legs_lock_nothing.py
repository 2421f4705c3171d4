"""Cheaper double entry: no lock and no shared index page on the system account, and no
foreign-key events on ledger rows (measured together: they cost deposits and withdrawals
a tenth of their throughput):

- the foreign key from entries to accounts goes. A foreign key check takes a KEY SHARE
  lock on the referenced row: every deposit and withdrawal locked the external-funds row,
  and concurrent lockers of one row share a MultiXact that each new locker rewrites (WAL,
  a dirtied page, the MultiXact SLRU). What the key guaranteed, the ledger now guarantees
  without a lock: the commit-time check of each posting refuses an entry on an account
  that does not exist, and an account that has entries (or is a system account) can be
  neither deleted nor renumbered (``ledger_account_referenced``). A customer account is
  row-locked by ``posting_create`` while its entries are written, so a concurrent DELETE
  waits for the posting and then sees its entries.
- the index on entries' ``account_id`` goes: every system leg added a key of the same
  value (0) to the same rightmost page. Customer reads use the partial (account, seq) and
  (account, time) indexes; the system accounts' balances are sums over the ledger anyway.
- the other foreign keys between ledger rows go too (an entry's posting, initiator and
  reversed entry; a posting's reversed posting). Each queued an event per inserted row,
  set or NULL, run at commit: a deposit ran twelve such events, the single-entry ledger
  three. The commit-time check of the posting now verifies all of them (the rows they
  point at are append-only, so they cannot vanish afterwards), and an entry's initiator
  must be its posting's, whose own key guards the user. The duplicate index on entries'
  ``posting_id`` (Django's, beside ``ledger_posting_idx``) goes.
"""

from django.conf import settings
from django.db import migrations, models

CHECKS = """
CREATE OR REPLACE FUNCTION ledger_check_posting(posting bigint) RETURNS void AS $$
DECLARE
    p record;
    total numeric;
    entries int;
    mismatched int;
    misplaced int;
    orphans int;
    unreversed int;
BEGIN
    SELECT kind, status, initiated_by_id, reversal_of_id INTO p FROM transactions_posting WHERE id = posting;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entries name posting %, which does not exist', posting USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF p.reversal_of_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM transactions_posting WHERE id = p.reversal_of_id) THEN
        RAISE EXCEPTION 'posting % reverses posting %, which does not exist', posting, p.reversal_of_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT COALESCE(SUM(CASE WHEN e.direction = 'CREDIT' THEN e.amount ELSE -e.amount END), 0),
           COUNT(*),
           COUNT(*) FILTER (WHERE e.transaction_type <> p.kind OR e.status <> p.status
                                  OR e.initiated_by_id <> p.initiated_by_id),
           COUNT(*) FILTER (WHERE a.id IS NOT NULL AND (a.system_code IS NULL) <> (e.seq IS NOT NULL)),
           COUNT(*) FILTER (WHERE a.id IS NULL),
           COUNT(*) FILTER (WHERE e.reversal_of_id IS NOT NULL
                              AND NOT EXISTS (SELECT 1 FROM transactions_transaction o WHERE o.id = e.reversal_of_id))
      INTO total, entries, mismatched, misplaced, orphans, unreversed
      FROM transactions_transaction e LEFT JOIN accounts_account a ON a.id = e.account_id
     WHERE e.posting_id = posting;
    IF entries = 0 THEN
        RAISE EXCEPTION 'posting % has no entries', posting USING ERRCODE = 'check_violation';
    END IF;
    IF orphans > 0 THEN
        RAISE EXCEPTION 'posting %: % entries are on accounts that do not exist', posting, orphans
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF unreversed > 0 THEN
        RAISE EXCEPTION 'posting %: % entries reverse entries that do not exist', posting, unreversed
            USING ERRCODE = 'foreign_key_violation';
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
        RAISE EXCEPTION 'posting %: % entries differ from its kind % or status % or initiator', posting, mismatched,
            p.kind, p.status USING ERRCODE = 'check_violation';
    END IF;
    IF misplaced > 0 THEN
        RAISE EXCEPTION 'posting %: a running balance belongs on customer entries, and only there', posting
            USING ERRCODE = 'check_violation';
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION ledger_account_referenced() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF OLD.system_code IS NOT NULL
       OR EXISTS (SELECT 1 FROM transactions_transaction WHERE account_id = OLD.id AND seq IS NOT NULL) THEN
        RAISE EXCEPTION 'account % has ledger entries: it can be neither deleted nor renumbered', OLD.id
            USING ERRCODE = 'foreign_key_violation', HINT = 'Accounts with a history are kept for good.';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_account_referenced
    BEFORE DELETE OR UPDATE OF id ON accounts_account
    FOR EACH ROW EXECUTE FUNCTION ledger_account_referenced();
"""

PREVIOUS = """
DROP TRIGGER IF EXISTS ledger_account_referenced ON accounts_account;
DROP FUNCTION IF EXISTS ledger_account_referenced();
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
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHECKS, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_system_accounts"),
        ("transactions", "0008_customer_only_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="transaction", name="posting",
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=models.deletion.PROTECT,
                                    related_name="entries", to="transactions.posting"),
        ),
        migrations.AlterField(
            model_name="transaction", name="initiated_by",
            field=models.ForeignKey(db_constraint=False, on_delete=models.deletion.PROTECT, related_name="+",
                                    to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="transaction", name="reversal_of",
            field=models.OneToOneField(blank=True, db_constraint=False, null=True, on_delete=models.deletion.PROTECT,
                                       related_name="reversed_by", to="transactions.transaction"),
        ),
        migrations.AlterField(
            model_name="posting", name="reversal_of",
            field=models.OneToOneField(blank=True, db_constraint=False, null=True, on_delete=models.deletion.PROTECT,
                                       related_name="reversed_by", to="transactions.posting"),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="account",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=models.deletion.PROTECT,
                related_name="transactions", to="accounts.account",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
