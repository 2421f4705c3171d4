#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banking.settings")
    # The lock and statement timeouts protect the request path (server threads must not
    # wait on a stuck lock); a migration, an audit of the whole ledger or a bulk purge
    # may legitimately wait or run long. Set them explicitly to bound a command too.
    os.environ.setdefault("DATABASE_LOCK_TIMEOUT_MS", "0")
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
