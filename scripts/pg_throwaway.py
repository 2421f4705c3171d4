#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL server.

    python scripts/pg_throwaway.py [--durable] -- <command> [args...]

Creates a cluster in a temporary directory (initdb), starts it on a free loopback
port, runs the command with DATABASE_URL pointing at it, then stops the server and
deletes the directory, whatever the command's outcome. Exits with the command's code.

PostgreSQL refuses to run as root, so when run as root the server runs as the
``postgres`` OS user. If the server binaries are missing and we are root, Debian's
PostgreSQL 15 is installed with apt-get. Tests run with fsync off (the data is thrown
away); ``--durable`` keeps PostgreSQL's default durability (for benchmarks).

Also importable: ``with throwaway_postgres() as url: ...``.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

PG_OS_USER = "postgres"


def find_bindir() -> Path | None:
    candidates: list[str] = []
    try:
        candidates.append(subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if directory and (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    return None


def ensure_bindir() -> Path:
    bindir = find_bindir()
    if bindir:
        return bindir
    if os.geteuid() != 0:
        sys.exit("PostgreSQL server binaries not found; install PostgreSQL 15 (apt-get install postgresql-15)")
    print("PostgreSQL server binaries not found: installing postgresql-15 with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15"], check=True, env=env)
    bindir = find_bindir()
    if not bindir:
        sys.exit("PostgreSQL server binaries still not found after apt-get install")
    return bindir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_restarters: dict[str, Callable[[], object]] = {}


def restart(url: str) -> None:
    """Restart a running throwaway cluster (``pg_ctl restart -m fast``): every client
    connection is closed by the server, as in a real database restart."""
    _restarters[url]()


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False, max_connections: int = 200) -> Iterator[str]:
    """Start a throwaway cluster; yield its DATABASE_URL; stop and delete it on exit."""
    bindir = ensure_bindir()
    as_root = os.geteuid() == 0
    run_as: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="banking-pg-"))
    if as_root:
        pg = pwd.getpwnam(PG_OS_USER)
        os.chown(workdir, pg.pw_uid, pg.pw_gid)
        run_as = {"user": pg.pw_uid, "group": pg.pw_gid, "extra_groups": []}
    os.chmod(workdir, 0o700)
    data, log = workdir / "data", workdir / "server.log"
    port = free_port()
    options = [
        f"-p {port}", f"-k {workdir}", "-c listen_addresses=127.0.0.1",
        f"-c max_connections={max_connections}",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    pg_ctl = str(bindir / "pg_ctl")
    started = False
    try:
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True, cwd=workdir, stdout=subprocess.DEVNULL, **run_as,
        )
        subprocess.run(
            [pg_ctl, "start", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", " ".join(options)],
            check=True, cwd=workdir, stdout=subprocess.DEVNULL, **run_as,
        )
        started = True
        url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        _restarters[url] = lambda: subprocess.run(
            [pg_ctl, "restart", "-D", str(data), "-m", "fast", "-w", "-t", "60", "-o", " ".join(options)],
            check=True, cwd=workdir, stdout=subprocess.DEVNULL, **run_as,
        )
        yield url
    except subprocess.CalledProcessError:
        if log.exists():
            sys.stderr.write(log.read_text())
        raise
    finally:
        _restarters.pop(f"postgres://postgres@127.0.0.1:{port}/postgres", None)
        if started:
            subprocess.run(
                [pg_ctl, "stop", "-D", str(data), "-m", "immediate", "-w"],
                cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as,
            )
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durable", action="store_true", help="keep fsync on (benchmarks)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    with throwaway_postgres(durable=args.durable) as url:
        print(f"throwaway PostgreSQL at {url}", file=sys.stderr)
        return subprocess.call(command, env={**os.environ, "DATABASE_URL": url})


if __name__ == "__main__":
    sys.exit(main())
