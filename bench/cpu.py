"""CPU time spent by a process tree, read from /proc (Linux).

Throughput on a small machine moves with whatever else runs on it; the CPU time that the
app server and PostgreSQL spend per operation moves much less, and says where a change
costs. ``ProcessTree(pid)`` is a process and everything below it (gunicorn's master and
its workers; the postmaster and its backends), including children that have exited and
been reaped (their time is in the parent's cutime/cstime)."""
from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


class ProcessTree:
    def __init__(self, root_pid: int):
        self.root_pid = root_pid

    def cpu_seconds(self) -> float:
        """user + system time of the tree, including reaped children."""
        total, stack = 0, [self.root_pid]
        while stack:
            pid = stack.pop()
            fields = _stat(pid)
            if fields is None:
                continue
            # After the name: state is fields[0]; utime, stime, cutime, cstime are 11..14.
            total += sum(int(x) for x in fields[11:15])
            stack += _children(pid)
        return total / _TICKS


def postmaster_pid(port: int) -> int:
    """The postmaster listening on ``port`` (its command line carries ``-p PORT``)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and f"-p {port}".encode() in b" ".join(argv):
            return int(proc.name)
    raise LookupError(f"no postmaster on port {port}")


def cluster_tree(database_url: str) -> ProcessTree:
    """The postmaster of the throwaway cluster at ``database_url`` and its backends."""
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    return ProcessTree(postmaster_pid(port))
