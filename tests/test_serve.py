"""`kmsdiag serve`: a resident server answers `kmsdiag explain` with the very bytes and exit code a cold
process gives (JSON, plain, forced colour at a given width, a real pseudo-terminal), for the caller's folder
and environment; it never holds the database between requests; it declines when its code changed; it stops
cleanly and removes its socket; a socket in a folder others can reach is never used.

The server and every `explain` run as separate processes, as a user runs them.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from diag.cli.server import CodeStamp
from diag.cli.server_client import explain_via_server
from diag.cli.server_paths import not_private, socket_path

REPO = Path(__file__).resolve().parent.parent


def _env(runtime: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KMSDIAG_NO_SERVER"}
    env.update(XDG_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO), **extra)
    return env


def _kmsdiag(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "diag", *args], env=env, cwd=cwd or REPO, capture_output=True, timeout=120
    )


class Served:
    def __init__(self, runtime: Path, proc: subprocess.Popen[bytes], status: dict[str, object]) -> None:
        self.runtime, self.proc, self.status = runtime, proc, status

    def env(self, **extra: str) -> dict[str, str]:
        return _env(self.runtime, **extra)

    def served(self) -> int:
        done = _kmsdiag(["serve", "--status", "--json"], self.env())
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["served"])


def _short_runtime() -> Path:
    """A new private runtime folder with a short path (a Unix socket path holds at most ~100 bytes, and
    pytest's temporary folders can be long)."""
    return Path(tempfile.mkdtemp(prefix="kd", dir="/tmp"))


def _start(runtime: Path | None = None, cwd: Path = REPO) -> Served:
    runtime = runtime or _short_runtime()
    runtime.mkdir(mode=0o700, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", "serve", "--json", "--idle-timeout", "300"],
        env=_env(runtime),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the status, once it listens
    if not line:
        proc.kill()
        raise AssertionError(f"kmsdiag serve did not start: {proc.stderr.read() if proc.stderr else b''!r}")
    return Served(runtime, proc, json.loads(line))


@pytest.fixture
def runtime() -> Iterator[Path]:
    folder = _short_runtime()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    served = _start()
    yield served
    _stop(served.proc)
    shutil.rmtree(served.runtime, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal the server and wait for it (reading its pipes meanwhile); its exit code. A server that does not
    stop within a minute is a failure, with what it wrote."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"kmsdiag serve did not stop within 60 s of signal {sig}; its stderr: {err!r}")
    return proc.returncode


@pytest.fixture(scope="module")
def events(stories_db: Path) -> list[str]:
    con = duckdb.connect(str(stories_db), read_only=True)
    try:
        rows = con.execute(
            "SELECT event_id FROM events WHERE error_code IS NOT NULL ORDER BY event_id LIMIT 3"
        ).fetchall()
        ok = con.execute("SELECT event_id FROM events WHERE error_code IS NULL ORDER BY event_id LIMIT 1").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows + ok]


def _same_answer(server: Served, args: list[str], cwd: Path | None = None, **env: str) -> None:
    before = server.served()
    cold = _kmsdiag(args, {**server.env(**env), "KMSDIAG_NO_SERVER": "1"}, cwd)
    warm = _kmsdiag(args, server.env(**env), cwd)
    assert server.served() == before + 1, "the server did not answer"
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


@pytest.mark.parametrize(
    ("extra_args", "env"),
    [
        (["--json"], {}),
        ([], {}),
        ([], {"NO_COLOR": "", "FORCE_COLOR": "1", "COLUMNS": "73"}),
        ([], {"COLUMNS": "41"}),
    ],
    ids=["json", "plain", "colour-73", "narrow"],
)
def test_same_bytes_and_exit_code(server: Served, stories_db: Path, events: list[str], extra_args, env) -> None:
    for event in events:
        _same_answer(server, ["explain", event, "--db", str(stories_db), *extra_args], **env)


def test_errors_are_the_same(server: Served, stories_db: Path) -> None:
    _same_answer(server, ["explain", "no-such-event-id", "--db", str(stories_db)])
    _same_answer(server, ["explain", "--error", "AccessDenied", "--key", "not-an-arn", "--db", str(stories_db)])


def test_the_callers_folder_and_environment(server: Served, stories_db: Path, events: list[str]) -> None:
    _same_answer(server, ["explain", events[0], "--db", stories_db.name], cwd=stories_db.parent)
    _same_answer(server, ["explain", events[0], "--json"], cwd=REPO, KMSDIAG_DB=str(stories_db))


def _tty_output(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal 97 columns wide; its exit code and what it showed."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 97, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "NO_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "diag", *args], env={**env, "TERM": "xterm-256color"}, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: every process holding it ended
            break
        if not chunk:
            break
        shown.extend(chunk)
    os.close(leader)
    return proc.wait(timeout=60), bytes(shown)


def test_a_real_terminal(server: Served, stories_db: Path, events: list[str]) -> None:
    args = ["explain", events[0], "--db", str(stories_db)]
    before = server.served()
    cold = _tty_output(args, {**server.env(), "KMSDIAG_NO_SERVER": "1"})
    warm = _tty_output(args, server.env())
    assert server.served() == before + 1
    assert warm == cold
    assert b"\x1b[" in warm[1]  # colour: it was a terminal to both


def test_writers_are_not_locked_out_between_requests(server: Served, stories_db: Path, events: list[str]) -> None:
    _same_answer(server, ["explain", events[0], "--db", str(stories_db), "--json"])
    con = duckdb.connect(str(stories_db))  # read-write: fails while any process holds the file
    con.close()


@pytest.mark.slow
def test_status_and_stop(runtime: Path) -> None:
    served = _start(runtime)
    path = str(served.status["socket"])
    assert os.path.exists(path)
    assert served.served() == 0
    again = _kmsdiag(["serve", "--idle-timeout", "5"], served.env())
    assert again.returncode == 4 and b"already answers" in again.stderr
    stop = _kmsdiag(["serve", "--stop"], served.env())
    assert stop.returncode == 0, stop.stderr
    assert served.proc.wait(timeout=30) == 0
    assert not os.path.exists(path)
    gone = _kmsdiag(["serve", "--status"], served.env())
    assert gone.returncode == 1 and b"no kmsdiag server answers" in gone.stderr


@pytest.mark.slow
def test_sigterm_stops_and_removes_the_socket(runtime: Path) -> None:
    served = _start(runtime)
    assert _stop(served.proc) == 143
    assert not os.path.exists(str(served.status["socket"]))


@pytest.mark.slow
def test_a_killed_servers_socket_is_harmless(runtime: Path, stories_db: Path, events: list[str]) -> None:
    served = _start(runtime)
    served.proc.kill()
    served.proc.wait(timeout=30)
    assert os.path.exists(str(served.status["socket"]))  # left behind by kill -9
    cold = _kmsdiag(["explain", events[0], "--db", str(stories_db), "--json"], served.env())
    assert cold.returncode == 0 and json.loads(cold.stdout)["event"]["event_id"] == events[0]
    again = _start(served.runtime)  # a new server replaces the dead socket
    assert again.served() == 0
    assert _stop(again.proc, signal.SIGINT) == 130


def test_code_changed_on_disk(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text("x = 1\n")
    stamp = CodeStamp(files={str(module): (0, 0, 0)})
    assert stamp.changed() == str(module)
    stamp = CodeStamp(files={})
    st = module.stat()
    stamp.files[str(module)] = (st.st_mtime_ns, st.st_size, st.st_ino)
    assert stamp.changed() is None
    module.write_text("x = 22\n")
    assert stamp.changed() == str(module)
    module.unlink()
    assert stamp.changed() == str(module)


def test_a_folder_others_can_reach_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "runtime"
    folder = runtime / f"kmsdiag-{os.getuid()}"
    folder.mkdir(parents=True, mode=0o700)
    assert not_private(str(folder)) is None
    folder.chmod(0o755)
    assert "0755" in str(not_private(str(folder)))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("KMSDIAG_NO_SERVER")
    Path(socket_path()).write_text("")  # even with something at the socket's path: never connected to
    assert explain_via_server(["explain", "x"]) is None
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert "not a folder" in str(not_private(str(link)))


@pytest.mark.slow
def test_a_busy_server_never_answers_twice(server: Served, stories_db: Path, events: list[str], tmp_path: Path) -> None:
    """While the server waits (`--wait`) for a database another process writes, a second caller gives up
    on it after a second and explains in-process: each caller gets exactly one answer."""
    locked = tmp_path / "locked.duckdb"
    shutil.copy(stories_db, locked)
    writer = duckdb.connect(str(locked))  # holds the file: readers wait
    args = ["explain", events[0], "--json"]
    waiting = subprocess.Popen(
        [sys.executable, "-m", "diag", *args, "--db", str(locked), "--wait", "20"],
        env=server.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)  # the server is now inside the first request, waiting for the lock
    second = _kmsdiag([*args, "--db", str(stories_db)], server.env())
    writer.close()
    first_out, first_err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, first_err
    for out in (first_out, second.stdout):
        assert json.loads(out)["event"]["event_id"] == events[0]  # one whole JSON document: one answer
    assert second.returncode == 0


@pytest.mark.slow
def test_idle_timeout(runtime: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diag", "serve", "--idle-timeout", "1"],
        env=_env(runtime),
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"stopped: idle for 1 s" in done.stderr
    assert not list((runtime / f"kmsdiag-{os.getuid()}").iterdir())  # the socket is removed


def test_malformed_requests_do_not_stop_the_server(server: Served, stories_db: Path, events: list[str]) -> None:
    import socket

    for payload in (b"", b"\x00\x00\x00\x02[]", b"\x00\x00\x00\x05{oops", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02{}"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(server.status["socket"]))
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            reply = sock.recv(1)
            assert reply in (b"", b"D")  # ignored or declined, never accepted
    _same_answer(server, ["explain", events[0], "--db", str(stories_db), "--json"])


def test_an_event_file_relative_to_the_callers_folder(
    server: Served, stories_db: Path, events: list[str], tmp_path: Path
) -> None:
    con = duckdb.connect(str(stories_db), read_only=True)
    try:
        (raw,) = con.execute("SELECT raw FROM events WHERE event_id = ?", [events[0]]).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    (tmp_path / "record.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    _same_answer(server, ["explain", "--event-file", "record.json", "--db", str(stories_db), "--json"], cwd=tmp_path)


@pytest.mark.slow
def test_a_server_killed_while_answering(runtime: Path, stories_db: Path, events: list[str], tmp_path: Path) -> None:
    """kill -9 of the server in the middle of a request: that explain says so (exit 70, run it again); the
    next one explains in its own process."""
    served = _start(runtime)
    locked = tmp_path / "locked.duckdb"
    shutil.copy(stories_db, locked)
    writer = duckdb.connect(str(locked))  # the request waits for this lock inside the server
    try:
        waiting = subprocess.Popen(
            [sys.executable, "-m", "diag", "explain", events[0], "--json", "--db", str(locked), "--wait", "30"],
            env=served.env(),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(2.0)
        served.proc.kill()
        served.proc.wait(timeout=30)
        out, err = waiting.communicate(timeout=60)
    finally:
        writer.close()
    assert waiting.returncode == 70 and out == b""
    assert b"the explain server stopped while answering; run the command again" in err
    again = _kmsdiag(["explain", events[0], "--json", "--db", str(locked)], served.env())
    assert again.returncode == 0 and json.loads(again.stdout)["event"]["event_id"] == events[0]


@pytest.mark.slow
def test_the_folder_the_server_started_in_may_go_away(runtime: Path, stories_db: Path, events: list[str]) -> None:
    start_dir = Path(tempfile.mkdtemp(prefix="kdstart", dir="/tmp"))
    served = _start(runtime, cwd=start_dir)
    try:
        start_dir.rmdir()
        _same_answer(served, ["explain", events[0], "--db", str(stories_db), "--json"])
    finally:
        _stop(served.proc)
