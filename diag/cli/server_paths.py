"""Where the resident `explain` server listens, and who may talk to it.

One Unix socket per user and installation: ``$XDG_RUNTIME_DIR`` (else ``$TMPDIR``, else ``/tmp``), folder
``kmsdiag-<uid>`` (owner-only, 0700), file ``explain-<id>.sock``, where ``<id>`` names this installation
(interpreter prefix, package folder, version), so that two virtual environments never answer for each
other. ``KMSDIAG_SERVER_SOCKET`` names another path (its folder must be just as private).

Standard library only, and cheap: the `explain` client imports this before anything heavy.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib

PROTOCOL = 1
SOCKET_ENV = "KMSDIAG_SERVER_SOCKET"
NO_SERVER_ENV = "KMSDIAG_NO_SERVER"  # set (to anything) to never use a running server
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def installation_id() -> str:
    """Names this installation: the interpreter's prefix, kmsdiag's package folder and version."""
    from diag.version import __version__

    text = "\0".join((sys.prefix, _PACKAGE_DIR, __version__))
    return f"{zlib.crc32(text.encode('utf-8', 'surrogateescape')):08x}"


def socket_path() -> str:
    """The socket of this user's and installation's server (whether or not one runs)."""
    given = os.environ.get(SOCKET_ENV)
    if given:
        return os.path.abspath(given)
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 (checked private)
    return os.path.join(base, f"kmsdiag-{os.getuid()}", f"explain-{installation_id()}.sock")


def not_private(folder: str) -> str | None:
    """Why ``folder`` may not hold the socket (None when it may): it must be a real folder (not a link),
    owned by this user, with no access for group or others. Anybody who could replace the socket there
    would receive the caller's terminal and could write into it."""
    try:
        st = os.lstat(folder)
    except OSError as exc:
        return f"{folder}: {exc.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{folder} is not a folder"
    if st.st_uid != os.getuid():
        return f"{folder} belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o077:
        return f"{folder} is open to group or others (mode {stat.S_IMODE(st.st_mode):04o}; it must be 0700)"
    return None


def make_private_folder(folder: str) -> str | None:
    """Create ``folder`` owner-only when missing; why it cannot be used, or None."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        return f"cannot create {folder}: {exc.strerror}"
    return not_private(folder)
