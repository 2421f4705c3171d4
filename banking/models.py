"""Models of the cross-cutting parts that live in ``banking/``."""
from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """A fixed-window rate-limit counter (see banking/throttling.py): one row per subject
    (a user's writes, a username's or an address's failed logins), updated by one atomic
    UPSERT. On PostgreSQL the table is UNLOGGED: counters need no crash durability, and
    skipping the WAL keeps them off the commit path."""

    counter_key = models.CharField(max_length=80, primary_key=True)
    window_start = models.BigIntegerField()
    hits = models.IntegerField()

    class Meta:
        db_table = "users_ratecounter"  # where it was created; moved here with throttling


class ReadFence(models.Model):
    """A user's read fence (banking/replicas.py): the primary's WAL position after that
    user's latest write. A replica serves the user's lag-tolerant reads only once it has
    replayed this far. The position is an LSN as a byte offset (``pg_lsn - '0/0'``)."""

    user = models.OneToOneField("users.User", primary_key=True, on_delete=models.CASCADE, related_name="+")
    lsn = models.BigIntegerField()

    class Meta:
        db_table = "banking_readfence"
