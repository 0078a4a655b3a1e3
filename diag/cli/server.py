"""`kmsdiag serve`: a resident process that answers `kmsdiag explain` without starting Python's libraries
again for every call.

A cold `explain` spends most of its time importing DuckDB and kmsdiag and creating their classes, not
explaining. The server does that once. Each request then runs the same fast path as a cold process
(``diag.cli.fast._main``) inside the caller's context: its working folder, its whole environment, and its
standard streams, received as file descriptors and put in place of the server's own 0, 1 and 2 for the
request. So the output is the same bytes (colour, width, wrapping, JSON) on the same terminal or pipe, the
exit code is the same, and `--db`, ``$KMSDIAG_DB`` and relative paths mean what they mean to the caller.

Nothing is cached between requests: every request opens the database read-only and closes it before
answering (ingest and collect are never locked out between requests). The server declines, and stops,
when any of its loaded files changed on disk since it started (an upgrade, an edited checkout): the
caller then explains in-process. It stops after ``idle_timeout`` seconds without a request, at
SIGINT/SIGTERM, or at `kmsdiag serve --stop`; it removes its socket when it stops.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from diag.cli.server_client import ACCEPTED, GO
from diag.cli.server_client import LENGTH as _LENGTH
from diag.cli.server_paths import PROTOCOL, SOCKET_ENV, installation_id, make_private_folder, socket_path
from diag.errors import RefusedError

MAX_HEADER = 16 * 1024 * 1024
MAX_SOCKET_PATH = 103  # bytes: sun_path holds 104 on macOS and the BSDs, 108 on Linux, NUL included
REQUEST_TIMEOUT = 5.0  # to receive one request once connected
STOP = "stop"
STATUS = "status"


@dataclass
class CodeStamp:
    """The files this process has loaded (every module with a file, and kmsdiag's package data), with
    their size, inode and modification time when the server started."""

    files: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @classmethod
    def now(cls) -> CodeStamp:
        paths = {m.__file__ for m in list(sys.modules.values()) if isinstance(getattr(m, "__file__", None), str)}
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for root, dirs, names in os.walk(package):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            paths.update(os.path.join(root, n) for n in names if not n.endswith(".pyc"))
        stamp = cls()
        for path in sorted(str(p) for p in paths):
            with contextlib.suppress(OSError):
                stamp.files[path] = _identity(path)
        return stamp

    def changed(self) -> str | None:
        """The first file that changed or went away since the stamp, or None."""
        for path, identity in self.files.items():
            try:
                if _identity(path) != identity:
                    return path
            except OSError:
                return path
        return None


def _identity(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


# ------------------------------------------------------------------------------------------ one request


def _receive(conn: socket.socket) -> dict[str, Any]:
    """The request's header (its length first)."""
    data = bytearray()
    length = None
    while length is None or len(data) < _LENGTH.size + length:
        chunk = conn.recv(65536 if length is None else min(65536, _LENGTH.size + length - len(data)))
        if not chunk:
            raise ValueError("request cut short")
        data.extend(chunk)
        if length is None and len(data) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(data)
            if length > MAX_HEADER:
                raise ValueError("request too large")
    if len(data) != _LENGTH.size + length:
        raise ValueError("more than one request")
    return dict(json.loads(bytes(data[_LENGTH.size :]).decode("utf-8", "surrogateescape")))


def _receive_streams(conn: socket.socket) -> list[int]:
    """The caller's GO with its stdin, stdout and stderr descriptors; [] when it gave up waiting."""
    try:
        go, fds, _flags, _addr = socket.recv_fds(conn, 1, 3)
    except OSError:
        return []
    if go != GO or len(fds) != 3:
        _close_all(fds)
        return []
    return list(fds)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _peer_uid(conn: socket.socket) -> int | None:
    """The connecting process's user (Linux; elsewhere the private folder alone guards the socket)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class _CallerGone(BrokenPipeError):
    """The caller closed its end (Ctrl-C) before the answer was written: write nothing to its streams."""


class _CallerStream(io.TextIOWrapper):
    """A standard stream of the caller; before its first write, checks that the caller still waits."""

    def __init__(self, fd: int, info: dict[str, Any], conn: socket.socket) -> None:
        super().__init__(
            io.FileIO(fd, "w", closefd=False),
            encoding=info.get("encoding") or "utf-8",
            errors=info.get("errors") or "strict",
            line_buffering=bool(info.get("line_buffering")),
        )
        self._conn = conn
        self._checked = False

    def write(self, s: str) -> int:
        if not self._checked:
            self._checked = True
            if _caller_gone(self._conn):
                raise _CallerGone("the caller stopped waiting")
        return super().write(s)


def _caller_gone(conn: socket.socket) -> bool:
    """The caller sends nothing after its request: readable now means it closed the connection."""
    import select

    readable, _, _ = select.select([conn], [], [], 0)
    return bool(readable)


@contextlib.contextmanager
def caller_context(header: dict[str, Any], fds: list[int], conn: socket.socket) -> Iterator[None]:
    """Run the body as the caller: its folder, environment, and standard streams (as 0, 1 and 2)."""
    from diag.render import console

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_fds = [os.dup(n) for n in (0, 1, 2)]
    infos = header.get("streams") or [{}, {}, {}]
    try:
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(header.get("env") or {}).items()})
        time.tzset()
        os.chdir(str(header["cwd"]))
        for n, fd in enumerate(fds):
            os.dup2(fd, n)
        sys.stdin = io.TextIOWrapper(
            io.FileIO(0, "r", closefd=False), encoding=infos[0].get("encoding"), errors=infos[0].get("errors")
        )
        sys.stdout = _CallerStream(1, infos[1], conn)
        sys.stderr = _CallerStream(2, infos[2], conn)
        console.out.cache_clear()
        console.err.cache_clear()
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for n, fd in enumerate(saved_fds):
            os.dup2(fd, n)
            os.close(fd)
        console.out.cache_clear()
        console.err.cache_clear()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        time.tzset()


def _reply(conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(data)


def _decline(conn: socket.socket, why: str) -> None:
    _reply(conn, b"D" + json.dumps({"declined": why}).encode())


@dataclass
class Server:
    """The listening socket, what the server loaded, and its counters."""

    path: str
    stamp: CodeStamp
    verbose: bool = False
    served: int = 0
    started: float = field(default_factory=time.time)
    stopping: str | None = None  # why the loop ends after this request

    def log(self, text: str) -> None:
        if self.verbose:
            sys.stderr.write(f"kmsdiag serve: {text}\n")
            sys.stderr.flush()

    def handle(self, conn: socket.socket) -> None:
        """Answer one connection: an `explain` command line, or a control request (status, stop)."""
        conn.settimeout(REQUEST_TIMEOUT)
        try:
            header = _receive(conn)
        except (OSError, ValueError, TypeError) as exc:
            self.log(f"bad request ignored: {exc}")
            return
        uid = _peer_uid(conn)
        if uid is not None and uid != os.getuid():
            _decline(conn, "another user")
            return
        self._answer(conn, header)

    def _answer(self, conn: socket.socket, header: dict[str, Any]) -> None:
        from diag.cli.fast import parse_explain

        if header.get("protocol") != PROTOCOL or header.get("installation") != installation_id():
            _decline(conn, "another protocol or installation")
            return
        control = header.get("control")
        if control in (STOP, STATUS):
            _reply(conn, ACCEPTED + json.dumps(self.status()).encode())
            if control == STOP:
                self.stopping = "asked to stop (kmsdiag serve --stop)"
            return
        changed = self.stamp.changed()
        if changed is not None:
            _decline(conn, f"code changed on disk: {changed}")
            self.stopping = f"{changed} changed on disk since the server started; start it again"
            return
        argv = [str(a) for a in header.get("argv") or []]
        if parse_explain(argv) is None:
            _decline(conn, "not an explain command line")
            return
        if not os.path.isdir(str(header.get("cwd"))):
            _decline(conn, "the caller's working folder is gone")
            return
        t0 = time.perf_counter()
        _reply(conn, ACCEPTED)
        fds = _receive_streams(conn)
        if not fds:
            return  # the caller gave up waiting and explains in-process: it must not get two answers
        try:
            code = self._run(argv, header, fds, conn)
        finally:
            _close_all(fds)
        _reply(conn, json.dumps({"code": code}).encode())
        self.served += 1
        self.log(f"explain {' '.join(argv[1:2])}… exit {code} in {1000 * (time.perf_counter() - t0):.0f} ms")

    def _run(self, argv: list[str], header: dict[str, Any], fds: list[int], conn: socket.socket) -> int:
        from diag.cli import interrupt
        from diag.cli.fast import _main
        from diag.errors import EXIT_INTERNAL

        try:
            with caller_context(header, fds, conn):
                code = _main(argv)
        except _CallerGone:
            return 0  # nobody reads the answer any more
        except Exception as exc:  # the server itself failed around the command: the caller's error, not ours
            self.log(f"internal error around a request: {type(exc).__name__}: {exc}")
            return EXIT_INTERNAL
        except BaseException as exc:  # SystemExit from a library, or a signal that reached the server
            signum = interrupt.received()
            if signum is not None:
                self.stopping = "signal"
                return interrupt.exit_code(signum)
            return exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else EXIT_INTERNAL
        if interrupt.received() is not None:
            self.stopping = "signal"
        return code

    def status(self) -> dict[str, Any]:
        return {
            "socket": self.path,
            "pid": os.getpid(),
            "served": self.served,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "installation": installation_id(),
        }


def warm_up() -> None:
    """Import and run once what an `explain` uses, against an in-memory database."""
    import importlib
    import pkgutil

    import duckdb

    import diag.collect.asof
    import diag.diagnosis
    import diag.policy
    import diag.proof
    import diag.rules
    from diag.cli.explain_input import explain_input
    from diag.render.explain_view import render_diagnosis
    from diag.store.migrations import apply_migrations
    from diag.store.views import refresh_views

    for package in (diag.diagnosis, diag.policy, diag.proof, diag.rules, diag.collect.asof):
        for mod in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(mod.name)
    for name in ("diag.explain", "diag.render.console", "diag.render.explain_view", "diag.jsonout"):
        importlib.import_module(name)
    con = duckdb.connect(":memory:")
    try:
        apply_migrations(con)
        refresh_views(con)
        text = (
            "An error occurred (AccessDeniedException) when calling the Decrypt operation: User:"
            " arn:aws:sts::111122223333:assumed-role/App/s is not authorized to perform: kms:Decrypt on resource:"
            " arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab because no"
            " resource-based policy allows the kms:Decrypt action"
        )
        found = explain_input(con, ident=None, event_file=None, error=text, key=None, region=None)
    finally:
        con.close()
    from rich.console import Console

    render_diagnosis(Console(file=io.StringIO(), width=100), found, title="warm-up")
    json.dumps(found.to_dict(), default=str)


def _live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind(path: str) -> socket.socket:
    """Listen at ``path`` in its private folder; refuse when another server answers there."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise RefusedError(
            f"cannot serve at {path}: {len(os.fsencode(path))} bytes is too long for a Unix socket path",
            hint=f"set {SOCKET_ENV} (or XDG_RUNTIME_DIR) to a shorter path in a folder only you can reach",
        )
    folder = os.path.dirname(path)
    why = make_private_folder(folder)
    if why is not None:
        raise RefusedError(f"cannot serve at {path}: {why}")
    if os.path.exists(path):
        if _live(path):
            raise RefusedError(f"a kmsdiag server already answers at {path}", hint="`kmsdiag serve --stop` stops it")
        os.unlink(path)  # left by a server that was killed
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(16)
    return sock


def serve(*, idle_timeout: float, verbose: bool = False, ready: Any = None) -> str:
    """Answer `explain` requests until idle, stopped or signalled; return why it stopped.

    ``ready`` is called with the server's status once it listens (the CLI prints it)."""
    import gc

    path = socket_path()
    warm_up()
    gc.collect()
    gc.freeze()  # what start-up loaded is never collected: a request's garbage collection stays short
    listener = bind(path)
    identity = os.stat(path).st_ino
    os.chdir("/")  # its own folder may be removed later; each request runs in the caller's folder anyway
    server = Server(path=path, stamp=CodeStamp.now(), verbose=verbose)
    listener.settimeout(idle_timeout if idle_timeout > 0 else None)
    try:
        if ready is not None:
            ready(server.status())
        while server.stopping is None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return f"idle for {idle_timeout:g} s"
            with conn:
                try:
                    server.handle(conn)
                except Exception as exc:  # a malformed request never stops the server
                    server.log(f"request failed: {type(exc).__name__}: {exc}")
            gc.collect()  # now, after the answer, rather than in the middle of the next one
        return server.stopping
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == identity:  # still ours (not a newer server's)
                os.unlink(path)


def control(request: str) -> dict[str, Any] | None:
    """Ask the running server for its status or to stop; its status, or None when none runs."""
    from diag.cli.server_client import ACCEPTED as OK
    from diag.cli.server_client import _connect, _read_all

    sock = _connect(socket_path())
    if sock is None:
        return None
    try:
        header = json.dumps({"protocol": PROTOCOL, "installation": installation_id(), "control": request}).encode()
        sock.sendall(_LENGTH.pack(len(header)) + header)
        reply = _read_all(sock)
    except OSError:
        return None
    finally:
        sock.close()
    if not reply.startswith(OK):
        return None
    result: dict[str, Any] = json.loads(reply[1:])
    return result
