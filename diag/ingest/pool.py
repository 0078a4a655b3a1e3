"""A small ordered process pool for ingest workers (``python -m diag.ingest._worker_main`` over pipes).

Why not multiprocessing: its "spawn" start re-imports the caller's ``__main__`` (breaking scripts
without a main guard and ``python -c``), and "fork" copies a process whose DuckDB threads may hold
locks. Plain subprocesses avoid both. Tasks go round-robin to the workers, results come back in
submission order, and at most ``window`` tasks are in flight, so memory stays bounded. A worker whose
parent dies reads end-of-input (or a broken pipe) and exits.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from diag.errors import EXIT_INTERNAL, KmsdiagError
from diag.ingest.worker import Task, TaskResult, read_frame, write_frame

_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class WorkerError(KmsdiagError):
    """A worker process died or answered nonsense (e.g. killed by the kernel when memory ran out)."""

    exit_code = EXIT_INTERNAL  # like the CLI's internal errors: not a bad input, nothing the user asked for

    def __init__(self, code: int | None) -> None:
        killed = code is not None and code < 0
        super().__init__(
            f"an ingest worker process stopped unexpectedly (exit code {code})",
            hint="everything committed before it stopped is kept; run the same ingest again to complete the rest"
            + (
                " (a worker killed by a signal is often the kernel reclaiming memory: try --workers 1)"
                if killed
                else ""
            ),
        )


class Pool:
    def __init__(self, workers: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "diag.ingest._worker_main"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                # Not in the terminal's foreground group: Ctrl-C goes to kmsdiag alone, which stops its
                # workers itself (a worker hit while still importing would print a traceback).
                process_group=0,
            )
            for _ in range(workers)
        ]
        self.queues: list[queue.Queue[Task | None]] = [queue.Queue() for _ in self.procs]
        self.feeders = [
            threading.Thread(target=self._feed, args=(p, q), daemon=True)
            for p, q in zip(self.procs, self.queues, strict=True)
        ]
        for t in self.feeders:
            t.start()

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], q: queue.Queue[Task | None]) -> None:
        assert proc.stdin is not None
        try:
            while (task := q.get()) is not None:
                write_frame(proc.stdin, task)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def map(self, tasks: Iterable[tuple[Any, Task]], window: int) -> Iterator[tuple[Any, TaskResult]]:
        """Yield ``(tag, result)`` for each ``(tag, task)``, in order, with at most ``window`` in flight."""
        inflight: deque[tuple[Any, int]] = deque()
        n = len(self.procs)
        for k, (tag, task) in enumerate(tasks):
            self.queues[k % n].put(task)
            inflight.append((tag, k % n))
            if len(inflight) >= window:
                yield self._next(inflight)
        while inflight:
            yield self._next(inflight)

    def _next(self, inflight: deque[tuple[Any, int]]) -> tuple[Any, TaskResult]:
        tag, idx = inflight.popleft()
        proc = self.procs[idx]
        assert proc.stdout is not None
        result = read_frame(proc.stdout)
        if not isinstance(result, TaskResult):
            code = proc.poll()
            raise WorkerError(code)
        return tag, result

    def close(self) -> None:
        for q in self.queues:
            q.put(None)
        for t in self.feeders:
            t.join(timeout=5)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
        self.close()
