"""Run the kmsdiag CLI with its database connection wrapped: SIGKILL itself at the N-th statement.

    KMSDIAG_KILL_AT_CALL=N KMSDIAG_KILL_WHEN=before|after python tests/reliability/killer.py ARGS...

Every ``execute``/``executemany``/``register`` on a connection from ``diag.store.open_db`` is counted;
at call N the process sends itself SIGKILL (before or after the statement runs), which is how a crash
mid-transaction looks to DuckDB. ``KMSDIAG_COUNT_FILE`` receives the number of calls of a full run.
``KMSDIAG_FILES_PER_COMMIT`` lowers ingest's commit group so one run has many transactions.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

_COUNTED = frozenset({"execute", "executemany", "register", "unregister", "sql", "begin", "commit"})


def main() -> int:
    kill_at = int(os.environ.get("KMSDIAG_KILL_AT_CALL", "0"))
    after = os.environ.get("KMSDIAG_KILL_WHEN", "before") == "after"
    count_file = os.environ.get("KMSDIAG_COUNT_FILE")
    calls = 0

    import diag.ingest.commit as commit
    import diag.store as store

    commit.FILES_PER_COMMIT = int(os.environ.get("KMSDIAG_FILES_PER_COMMIT", str(commit.FILES_PER_COMMIT)))
    real_open = store.open_db

    def die() -> None:
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    class Counted:
        def __init__(self, con: Any) -> None:
            self._con = con

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self._con, name)
            if name not in _COUNTED:
                return attr

            def wrapped(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == kill_at and not after:
                    die()
                result = attr(*args, **kwargs)
                if calls == kill_at and after:
                    die()
                return result

            return wrapped

    def open_db(*args: Any, **kwargs: Any) -> Any:
        return Counted(real_open(*args, **kwargs))

    store.open_db = open_db  # type: ignore[assignment]
    if count_file:
        atexit.register(lambda: Path(count_file).write_text(str(calls)))
    from diag.cli.app import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
