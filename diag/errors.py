"""Errors that the CLI turns into one clear message and a documented exit code (see the README's exit codes)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_REFUSED = 4  # AWS or the database refused (credentials, lock)
EXIT_DENIED = 5  # `kmsdiag check`: at least one access is denied
EXIT_INTERNAL = 70  # a bug or a crashed helper process (BSD EX_SOFTWARE); not an input problem


class KmsdiagError(Exception):
    """An expected failure: printed as one message on stderr, no traceback without --debug."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class NotFoundError(KmsdiagError):
    exit_code = EXIT_NOT_FOUND


class UsageError(KmsdiagError):
    exit_code = EXIT_USAGE


class AmbiguousIdError(UsageError):
    """An event-ID prefix that matches several events: the message lists them (exit code 2, like a usage error)."""


class BadInputError(KmsdiagError):
    exit_code = EXIT_BAD_INPUT


class RefusedError(KmsdiagError):
    """AWS or the database refused: credentials, permissions, a lock held by another process."""

    exit_code = EXIT_REFUSED


class DatabaseLockedError(RefusedError):
    """Another process holds the DuckDB file."""
