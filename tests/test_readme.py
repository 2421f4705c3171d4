"""The README's API walk-through runs as printed.

Every ```bash block between "## API" and the next "## " heading is run, in order, by one
bash process against a real server (gunicorn) on a fresh PostgreSQL test database whose
first user is the admin created exactly as ``scripts/serve.sh`` does. What each command
prints is compared with the answer the README prints for it:

- a ```json or ```csv block right after a ```bash block is the answer of that block's
  last command;
- a comment line right after a command (or at the end of its last line) holding JSON,
  ``# {"balance": "925.00"}``, is that command's answer;
- for ``curl -i``, comment lines ``# HTTP/1.1 409 Conflict`` and ``# Link: <...>`` are
  its status line and headers (other headers are not checked);
- other comment lines are prose.

``…`` in a printed value stands for any text (a token, a timestamp); it is allowed only in
the values that vary from run to run (``VARYING_KEYS``, the CSV's date column, headers), so
that marking cannot hide a wrong amount. Everything else must match exactly, and a command
that prints something the README does not show fails the test too. The commands run in a
temporary directory (``curl -OJ`` writes there), ``http://localhost:8000`` rewritten to the
test server, every curl limited by a ``.curlrc`` (``max-time``) and the whole run by a timeout.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.live_server import Gunicorn
from users.models import User

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_BASE = "http://localhost:8000"
VARIES = "…"
VARYING_KEYS = {"token", "secret", "date_joined", "created_at", "expires_at", "at", "from", "to"}
MARK = "@@readme-step-{}@@"
SERVE_COMMAND = re.compile(
    r"^(DJANGO_SUPERUSER_USERNAME=\S+ DJANGO_SUPERUSER_PASSWORD=\S+) bash scripts/serve\.sh$", re.M)
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
HEADER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s(.*)$")


@dataclass
class Command:
    source: str  # as printed, backslash continuations included
    block: int  # the number of its ```bash block (1-based), for messages
    json: object = None
    has_json: bool = False
    csv: list[list[str]] | None = None
    status_line: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def expects_body(self) -> bool:
        return self.has_json or self.csv is not None

    def expect_json(self, value, where: str) -> None:
        assert not self.expects_body(), f"{where}: a second answer for {self.first_line()!r}"
        self.json, self.has_json = value, True

    def first_line(self) -> str:
        return self.source.splitlines()[0]


# --- Reading the README ------------------------------------------------------------


def walkthrough_text(readme: str) -> str:
    start = readme.index("\n## API\n")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end != -1 else len(readme)]


def _annotate(command: Command, comment: str, where: str) -> None:
    if comment.startswith(("{", "[")):
        try:
            value = json.loads(comment)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{where}: the answer {comment!r} is not JSON: {exc}") from None
        command.expect_json(value, where)
    elif comment.startswith("HTTP/"):
        command.status_line = comment
    elif match := HEADER.match(comment):
        command.headers.append((match.group(1), match.group(2)))
    # anything else is prose


def parse_bash_block(text: str, block: int) -> list[Command]:
    commands: list[Command] = []
    current: Command | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        i += 1
        if not stripped:
            current = None
            continue
        if stripped.startswith("#"):
            if current is not None:
                _annotate(current, stripped[1:].strip(), f"bash block {block}")
            continue
        physical = [line]
        while physical[-1].endswith("\\") and i < len(lines):
            physical.append(lines[i])
            i += 1
        current = Command(source="\n".join(physical), block=block)
        commands.append(current)
        # "command   # {"json": "answer"}" on the command's last line
        trailing = re.search(r"\s#\s+(\{.*\}|\[.*\])\s*$", physical[-1])
        if trailing:
            _annotate(current, trailing.group(1), f"bash block {block}")
    return commands


def parse_walkthrough(readme: str) -> list[Command]:
    """The walk-through's commands in order, each with the answer the README prints."""
    text = walkthrough_text(readme)
    commands: list[Command] = []
    blocks = 0
    last_bash_end: int | None = None
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        where = f"the ```{language} block after bash block {blocks}"
        if language == "bash":
            blocks += 1
            block_commands = parse_bash_block(body, blocks)
            assert block_commands, f"bash block {blocks} has no command"
            commands.extend(block_commands)
            last_bash_end = match.end()
            continue
        assert language in ("json", "csv"), f"unexpected ```{language} block in the walk-through"
        assert last_bash_end is not None and not text[last_bash_end:match.start()].strip(), (
            f"{where} does not follow a ```bash block directly, so no command answers it")
        last_bash_end = None
        if language == "json":
            try:
                value = json.loads(body)
            except json.JSONDecodeError as exc:
                raise AssertionError(f"{where} is not JSON: {exc}") from None
            commands[-1].expect_json(value, where)
        else:
            assert not commands[-1].expects_body(), f"{where}: a second answer"
            commands[-1].csv = list(csv.reader(io.StringIO(body)))
    return commands


# --- Comparing ---------------------------------------------------------------------


def _pattern(expected: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in expected.split(VARIES)), re.S)


def text_matches(expected: str, actual: str) -> bool:
    return _pattern(expected).fullmatch(actual) is not None


def mismatches(expected, actual, path: str = "$") -> list[str]:
    """Where ``actual`` (a JSON answer) differs from ``expected`` (the README's)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        if expected.keys() != actual.keys():
            return [f"{path}: keys {sorted(actual)} instead of {sorted(expected)}"]
        return [m for key in expected for m in mismatches(expected[key], actual[key], f"{path}.{key}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [m for i, (e, a) in enumerate(zip(expected, actual)) for m in mismatches(e, a, f"{path}[{i}]")]
    if isinstance(expected, str) and VARIES in expected:
        key = path.rsplit(".", 1)[-1]
        if key not in VARYING_KEYS:
            return [f"{path}: {VARIES!r} marks a value as varying, but {key!r} does not vary "
                    f"(only {sorted(VARYING_KEYS)} do); print the exact value"]
        if not isinstance(actual, str) or not text_matches(expected, actual):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return []
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def csv_mismatches(expected: list[list[str]], actual: list[list[str]]) -> list[str]:
    if len(expected) != len(actual):
        return [f"expected {len(expected)} CSV rows, got {len(actual)}: {actual!r}"]
    found = []
    for number, (want, got) in enumerate(zip(expected, actual), start=1):
        if len(want) != len(got):
            found.append(f"row {number}: expected {want!r}, got {got!r}")
            continue
        for column, (e, a) in enumerate(zip(want, got)):
            if VARIES in e and column != 0:
                found.append(f"row {number}: {VARIES!r} is only allowed in the date column")
            elif not text_matches(e, a):
                found.append(f"row {number}, column {column + 1}: expected {e!r}, got {a!r}")
    return found


def check_answer(command: Command, output: str, server_base: str) -> list[str]:
    """Compare what one command printed with what the README prints for it."""
    body = output
    found = []
    if command.status_line or command.headers:
        if not output.startswith("HTTP/"):
            return [f"the README shows a status line or headers, but no HTTP head came (curl -i): {output[:200]!r}"]
        head, body = (re.split(r"\r?\n\r?\n", output, maxsplit=1) + [""])[:2]
        status_line, *header_lines = head.splitlines()
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
        if command.status_line and not text_matches(command.status_line, status_line):
            found.append(f"status line {status_line!r} instead of {command.status_line!r}")
        for name, value in command.headers:
            value = value.replace(README_BASE, server_base)
            got = [v for n, v in headers if n.lower() == name.lower()]
            if not any(text_matches(value, v) for v in got):
                found.append(f"header {name}: {got!r} instead of {value!r}")
    if command.has_json:
        try:
            actual = json.loads(body)
        except json.JSONDecodeError:
            return found + [f"the answer is not one JSON document: {body[:500]!r}"]
        found += mismatches(command.json, actual)
    elif command.csv is not None:
        found += csv_mismatches(command.csv, list(csv.reader(io.StringIO(body))))
    elif body.strip():
        found.append(f"it printed {body[:500]!r}, but the README shows no answer for it")
    return found


# --- Running -----------------------------------------------------------------------


def run_walkthrough(commands: list[Command], server_base: str, workdir: Path, timeout: float = 120) -> list[str]:
    """Run the commands in one bash (variables carry over), each preceded by a marker
    line, and return what each one printed."""
    script = ["set -e"]
    for number, command in enumerate(commands):
        script.append(f"printf '\\n%s\\n' {shlex.quote(MARK.format(number))}")
        script.append(command.source.replace(README_BASE, server_base))
    script.append(f"printf '\\n%s\\n' {shlex.quote(MARK.format('end'))}")
    curlrc = workdir / ".curlrc"
    curlrc.write_text("connect-timeout = 5\nmax-time = 20\n")  # no request can hang the test
    # python3 (the README's token picker) is at least this interpreter.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "CURL_HOME": str(workdir), "HOME": str(workdir)}
    result = subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=workdir, env=env,
                            capture_output=True, text=True, encoding="utf-8", timeout=timeout)
    parts = re.split(r"\n@@readme-step-(\d+|end)@@\n", result.stdout)
    outputs: dict[str, str] = dict(zip(parts[1::2], parts[2::2]))
    done = [outputs[str(n)] for n in range(len(commands)) if str(n) in outputs]
    if "end" not in outputs:  # set -e stopped it: the last command that started failed
        failed = commands[len(done) - 1] if done else commands[0]
        raise AssertionError(
            f"the walk-through stopped with exit status {result.returncode} at bash block {failed.block}: "
            f"{failed.source}\nstdout: {done[-1] if done else ''!r}\nstderr: {result.stderr[-2000:]}")
    return done


# --- Tests -------------------------------------------------------------------------


def test_the_walkthrough_is_read_with_its_answers():
    """Cheap checks on the extraction itself (no server): the README's examples are found,
    and a wrong printed value is a mismatch."""
    commands = parse_walkthrough(README.read_text())
    sources = [c.source for c in commands]
    assert any("pass123" in s for s in sources) and any("/transactions/transfer" in s for s in sources)
    assert sum(c.expects_body() for c in commands) >= 20
    assert any(c.csv for c in commands) and any(c.headers for c in commands)
    assert mismatches({"balance": "925.00"}, {"balance": "925.00"}) == []
    assert mismatches({"balance": "925.00"}, {"balance": "926.00"})
    assert mismatches({"created_at": "…"}, {"created_at": "2026-11-24T10:31:00Z"}) == []
    assert mismatches({"balance": "…"}, {"balance": "925.00"}), "only varying values may be marked"
    assert mismatches({"from": "…-01T00:00:00Z"}, {"from": "2026-11-02T00:00:00Z"})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_readme_walkthrough_runs_as_printed(monkeypatch, tmp_path):
    readme = README.read_text()
    commands = parse_walkthrough(readme)
    # The database is fresh, and its first user is the admin, created as the README's
    # serve command creates it.
    serve = SERVE_COMMAND.search(readme)
    assert serve, "the README's serve command is not where the test expects it"
    for assignment in shlex.split(serve.group(1)):
        name, _, value = assignment.partition("=")
        monkeypatch.setenv(name, value)
    assert not User.objects.exists()
    call_command("ensure_superuser", stdout=io.StringIO())
    assert User.objects.get().pk == 1

    server = Gunicorn(workers=2, env={"WRITE_THROTTLE_RATE": "100/second"}).start()  # serve.sh's default
    try:
        base = f"http://127.0.0.1:{server.port}"
        outputs = run_walkthrough(commands, base, tmp_path)
    finally:
        server.stop()

    problems = []
    for command, output in zip(commands, outputs):
        for problem in check_answer(command, output, base):
            problems.append(f"bash block {command.block}, {command.first_line()!r}: {problem}")
    assert not problems, "the README's walk-through does not run as printed:\n" + "\n".join(problems)
