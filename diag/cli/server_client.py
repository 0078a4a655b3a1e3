"""The `explain` side of the resident server: hand the command line to a running `kmsdiag serve`.

The server runs the very same fast path (``diag.cli.fast._main``) with this process's working folder,
environment and standard streams (passed as file descriptors over the Unix socket), so it writes the same
bytes to the same terminal or pipe and returns the same exit code; it only skips starting Python's
libraries again. When no server runs, or it declines (another protocol or installation, its code changed on
disk since it started), this returns None and the caller explains in-process as always.

Imports only the standard library, and ``socket`` and ``json`` only once a socket is there: this runs
before anything heavy is loaded, in every cold `explain`.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import TYPE_CHECKING, Any

from diag.cli.server_paths import NO_SERVER_ENV, PROTOCOL, installation_id, not_private, socket_path

if TYPE_CHECKING:
    import socket

# The server's first byte: it can run the command now. Only then does the client send GO with its standard
# streams (a descriptor in flight would keep the caller's pipe open until a busy server read it); a client
# that waited CONNECT_TIMEOUT for it closes and explains in-process, so a caller never gets two answers.
ACCEPTED = b"A"
GO = b"G"
LENGTH = struct.Struct("!I")  # the request header's length, before it
CONNECT_TIMEOUT = 1.0


def _stream_info(stream: Any) -> dict[str, Any]:
    return {
        "encoding": getattr(stream, "encoding", None) or "utf-8",
        "errors": getattr(stream, "errors", None) or "strict",
        "line_buffering": bool(getattr(stream, "line_buffering", False)),
    }


def request_header(args: list[str]) -> dict[str, Any]:
    """What the server needs to run ``args`` exactly as this process would."""
    return {
        "protocol": PROTOCOL,
        "installation": installation_id(),
        "argv": list(args),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "streams": [_stream_info(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
    }


def _connect(path: str) -> socket.socket | None:
    if not os.path.exists(path) or not_private(os.path.dirname(path)) is not None:
        return None
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(path)
    except OSError:  # a socket left by a server that is gone, or one that is shutting down
        sock.close()
        return None
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def explain_via_server(args: list[str]) -> int | None:
    """Run ``args`` (an `explain` command line) in the resident server: its exit code, or None when no
    server takes it (then nothing was written to our streams)."""
    if os.environ.get(NO_SERVER_ENV) or not hasattr(os, "getuid"):
        return None  # asked not to, or not a Unix system
    sock = _connect(socket_path())
    if sock is None:
        return None
    import json
    import socket

    if not hasattr(socket, "send_fds"):  # no descriptor passing here
        sock.close()
        return None
    try:
        try:
            data = json.dumps(request_header(args)).encode("utf-8", "surrogateescape")
            sock.sendall(LENGTH.pack(len(data)) + data)
            first = sock.recv(1)
        except OSError:
            return None
        if first != ACCEPTED:
            return None  # declined (the reason is in the rest of the reply), or the server went away
        try:
            socket.send_fds(sock, [GO], [0, 1, 2])
        except OSError:
            return None
        sock.settimeout(None)  # the command runs now; `--wait` may make it wait for a database lock
        reply = _read_all(sock)
    finally:
        sock.close()
    try:
        return int(json.loads(reply)["code"])
    except (ValueError, KeyError, TypeError):
        from diag.errors import EXIT_INTERNAL

        sys.stderr.write(
            "kmsdiag: internal error: the explain server stopped while answering; run the command again"
            f" (or set {NO_SERVER_ENV}=1 to explain without it)\n"
        )
        return EXIT_INTERNAL
