#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL server.

    python scripts/pg_throwaway.py [--durable] [--pgbouncer] -- <command> [args...]

Creates a cluster in a temporary directory (initdb), starts it on a free loopback
port, runs the command with DATABASE_URL pointing at it, then stops the server and
deletes the directory, whatever the command's outcome. Exits with the command's code.

PostgreSQL refuses to run as root, so when run as root the server runs as the
``postgres`` OS user. If the server binaries are missing and we are root, Debian's
PostgreSQL 15 is installed with apt-get. Tests run with fsync off (the data is thrown
away); ``--durable`` keeps PostgreSQL's default durability (for benchmarks).
``--pgbouncer`` also starts Debian's PgBouncer in front of it, in transaction pooling
mode, and gives the command its address as PGBOUNCER_URL.

Also importable: ``with throwaway_postgres() as url: ...``; ``throwaway_replica(url)``
(a streaming hot standby of that cluster, made with ``pg_basebackup -R``),
``throwaway_pgbouncer(url)``, and ``restart(url)``, ``stop(url)``, ``psql(url, sql)``.
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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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


@dataclass
class Cluster:
    bindir: Path
    workdir: Path
    options: list[str]
    run_as: dict

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run([str(self.bindir / "pg_ctl"), *args, "-D", str(self.data)], check=check, cwd=self.workdir,
                       stdout=subprocess.DEVNULL, stderr=None if check else subprocess.DEVNULL, **self.run_as)

    def start(self) -> None:
        self.pg_ctl("start", "-l", str(self.log), "-w", "-t", "60", "-o", " ".join(self.options))


_clusters: dict[str, Cluster] = {}


def restart(url: str) -> None:
    """Restart a running throwaway cluster (``pg_ctl restart -m fast``): every client
    connection is closed by the server, as in a real database restart."""
    _clusters[url].pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-o", " ".join(_clusters[url].options))


def stop(url: str) -> None:
    """Stop a throwaway cluster at once (``pg_ctl stop -m immediate``: a crash, to its clients)."""
    _clusters[url].pg_ctl("stop", "-m", "immediate", "-w")


def start(url: str) -> None:
    """Start a stopped throwaway cluster again."""
    _clusters[url].start()


def server_log(url: str) -> str:
    """What a throwaway cluster has logged so far."""
    return _cluster_of(url).log.read_text(errors="replace")


def _cluster_of(url: str) -> Cluster:
    server = url.rsplit("/", 1)[0]
    return next(c for known, c in _clusters.items() if known.rsplit("/", 1)[0] == server)


def psql(url: str, sql: str) -> str:
    """Run SQL on a throwaway cluster as its superuser; the output, unaligned."""
    cluster = _cluster_of(url)
    return subprocess.run([str(cluster.bindir / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def _run_as() -> dict:
    if os.geteuid() != 0:
        return {}
    pg = pwd.getpwnam(PG_OS_USER)
    return {"user": pg.pw_uid, "group": pg.pw_gid, "extra_groups": []}


def _workdir(prefix: str, run_as: dict) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    if run_as:
        os.chown(workdir, run_as["user"], run_as["group"])
    os.chmod(workdir, 0o700)
    return workdir


@contextlib.contextmanager
def _running(cluster: Cluster, port: int, make: Callable[[], None]) -> Iterator[str]:
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    started = False
    try:
        make()
        cluster.start()
        started = True
        _clusters[url] = cluster
        yield url
    except subprocess.CalledProcessError:
        if cluster.log.exists():
            sys.stderr.write(cluster.log.read_text())
        raise
    finally:
        _clusters.pop(url, None)
        if started:
            cluster.pg_ctl("stop", "-m", "immediate", "-w", check=False)
        shutil.rmtree(cluster.workdir, ignore_errors=True)


def _server_options(port: int, workdir: Path, *, durable: bool, max_connections: int) -> list[str]:
    options = [f"-p {port}", f"-k {workdir}", "-c listen_addresses=127.0.0.1", f"-c max_connections={max_connections}"]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    return options


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False, max_connections: int = 200,
                       options: Sequence[str] = ()) -> Iterator[str]:
    """Start a throwaway cluster; yield its DATABASE_URL; stop and delete it on exit.
    ``options``: more server options (``-c name=value``)."""
    bindir = ensure_bindir()
    run_as = _run_as()
    workdir = _workdir("banking-pg-", run_as)
    port = free_port()
    cluster = Cluster(bindir, workdir,
                      _server_options(port, workdir, durable=durable, max_connections=max_connections) + list(options),
                      run_as)

    def initdb() -> None:
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True, cwd=workdir, stdout=subprocess.DEVNULL, **run_as,
        )

    with _running(cluster, port, initdb) as url:
        yield url


@contextlib.contextmanager
def throwaway_replica(primary_url: str, *, options: Sequence[str] = ()) -> Iterator[str]:
    """Start a streaming hot-standby replica of a running throwaway cluster (a base
    backup taken with ``pg_basebackup -R``, which writes the standby's connection to the
    primary); yield its URL; stop and delete it on exit. ``options``: more server options
    (``-c name=value``) for the replica."""
    primary = _clusters[primary_url]
    workdir = _workdir("banking-replica-", primary.run_as)
    port = free_port()
    # A hot standby needs at least the primary's max_connections; the rest as the primary.
    server_options = [o for o in primary.options if not o.startswith(("-p ", "-k "))]
    server_options += [f"-p {port}", f"-k {workdir}", "-c hot_standby=on", *options]
    cluster = Cluster(primary.bindir, workdir, server_options, primary.run_as)
    address = primary_url.split("@", 1)[1].split("/", 1)[0]
    host, primary_port = address.rsplit(":", 1)

    def base_backup() -> None:
        subprocess.run(
            [str(primary.bindir / "pg_basebackup"), "-D", str(cluster.data), "-R", "-X", "stream", "-c", "fast",
             "-h", host, "-p", primary_port, "-U", "postgres", "--no-sync"],
            check=True, cwd=workdir, stdout=subprocess.DEVNULL, **primary.run_as,
        )

    with _running(cluster, port, base_backup) as url:
        yield url


def ensure_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if Path(p).exists()), None)
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("pgbouncer not found; install it (apt-get install pgbouncer)")
    print("pgbouncer not found: installing Debian's pgbouncer with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@contextlib.contextmanager
def throwaway_pgbouncer(database_url: str, *, pool_size: int = 8, max_clients: int = 2000) -> Iterator[str]:
    """Start PgBouncer in transaction pooling mode in front of a PostgreSQL server (any of
    its databases, by name, as its user); yield PgBouncer's URL (same database name).
    ``pool_size`` server connections per database: fewer than the clients, so that
    consecutive transactions of one client do run on different server connections."""
    binary = ensure_pgbouncer()
    run_as = _run_as()  # PgBouncer, too, refuses to run as root
    workdir = _workdir("banking-pgbouncer-", run_as)
    port = free_port()
    user_host, path = database_url.split("://", 1)[1].split("/", 1)
    user, address = user_host.split("@", 1)
    host, server_port = address.rsplit(":", 1)
    config = workdir / "pgbouncer.ini"
    config.write_text(f"""[databases]
* = host={host} port={server_port} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = {max_clients}
ignore_startup_parameters = extra_float_digits
logfile = {workdir}/pgbouncer.log
log_connections = 0
log_disconnections = 0
""")
    if run_as:
        os.chown(config, run_as["user"], run_as["group"])
    process = subprocess.Popen([binary, "-q", str(config)], cwd=workdir, stdout=subprocess.DEVNULL, **run_as)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = workdir / "pgbouncer.log"
                    sys.stderr.write(log.read_text() if log.exists() else "")
                    raise RuntimeError(f"pgbouncer did not start (exit code {process.poll()})")
                time.sleep(0.05)
        yield f"postgres://{user}@127.0.0.1:{port}/{path}"
    finally:
        process.kill()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durable", action="store_true", help="keep fsync on (benchmarks)")
    parser.add_argument("--pgbouncer", action="store_true", help="also start PgBouncer; its URL in PGBOUNCER_URL")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres(durable=args.durable))
        print(f"throwaway PostgreSQL at {url}", file=sys.stderr)
        env = {**os.environ, "DATABASE_URL": url}
        if args.pgbouncer:
            env["PGBOUNCER_URL"] = stack.enter_context(throwaway_pgbouncer(url))
            print(f"PgBouncer (transaction pooling) at {env['PGBOUNCER_URL']}", file=sys.stderr)
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
