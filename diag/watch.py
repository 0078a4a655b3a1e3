"""`kmsdiag watch`: pull → ingest → diagnose new failures → one JSON line per new diagnosis, forever.

One cycle:

1. read what is known (S3 ETags, watermarks) through a short read-only connection;
2. fetch from every source into a private spool folder, holding no database connection;
3. open the write connection, ingest the spool through the one ingest path, record the sources'
   bookkeeping, diagnose the failures that have no diagnosis yet, queue every new diagnosis in the
   ``watch_outbox`` table, close the connection;
4. print each queued diagnosis as one JSON line on stdout (and POST it to the webhook), then mark it
   emitted in a second short write.

Between cycles the database file is free: a notebook can open it read-only (or even read-write) and the
next cycle waits for the lock (``lock_wait``) and otherwise backs off and retries. Transient AWS errors
(throttling, 5xx, connection drops) and a busy database back off exponentially, capped at the interval.
SIGTERM/SIGINT set a flag: the cycle in progress stops fetching, commits what it fetched and the loop
ends; nothing is left half-written. The outbox makes every diagnosis go out once: a row is queued in
the transaction that follows its diagnosis and is never queued twice (event_id is its key). A
cross-account call logged by both accounts (one sharedEventID) goes out once, as the report counts it.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from diag.errors import DatabaseLockedError, RefusedError, UsageError
from diag.ingest.remote.aws import describe_error, is_refused, is_transient
from diag.ingest.remote.blob import BlobIngester
from diag.ingest.remote.pull import Pull, Spool
from diag.ingest.remote.timeparse import utcnow

if TYPE_CHECKING:
    import duckdb

# (write connection, event IDs of failures without a diagnosis) -> anything; writes rows to `diagnoses`.
DiagnoseFn = Callable[["duckdb.DuckDBPyConnection", list[str]], Any]
# (read-only connection, now, stop) -> the pulls of one cycle (sources read their own state first).
PullPlanner = Callable[["duckdb.DuckDBPyConnection", dt.datetime, threading.Event], list[Pull]]

BASELINE_KEY = "watch_baseline"


@dataclass
class CycleReport:
    number: int
    started_at: dt.datetime
    blobs: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    diagnosed: int = 0
    emitted: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.number,
            "started_at": f"{self.started_at:%Y-%m-%dT%H:%M:%SZ}",
            "inputs": self.blobs,
            "sources": self.sources,
            "diagnosed": self.diagnosed,
            "emitted": self.emitted,
            "seconds": round(self.seconds, 3),
        }


def _summary_dict(summary: Any) -> dict[str, Any]:
    to_dict = getattr(summary, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}


# ---------------------------------------------------------------------------------------------- SQL steps


def undiagnosed_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Failed events that have no diagnosis yet, oldest first."""
    rows = con.execute(
        "SELECT e.event_id FROM events e WHERE e.error_code IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM diagnoses d WHERE d.event_id = e.event_id) "
        "ORDER BY e.event_time, e.event_id"
    ).fetchall()
    return [str(r[0]) for r in rows]


def ensure_baseline(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dt.datetime:
    """The time from which watch announces diagnoses (set at the first watch start, then kept)."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [BASELINE_KEY]).fetchone()
    if row:
        return dt.datetime.fromisoformat(str(row[0]))
    con.execute("INSERT INTO meta VALUES (?, ?)", [BASELINE_KEY, now.isoformat()])
    return now


def queue_new_diagnoses(con: duckdb.DuckDBPyConnection, baseline: dt.datetime) -> int:
    """Queue the newest diagnosis of every call diagnosed since ``baseline`` and not queued before.

    A cross-account call is logged by both accounts (two events, one ``sharedEventID``): it is one
    failure, announced once, as the report counts it. Of the copies diagnosed together, the caller's copy
    (the one with a caller ARN) is announced; a copy arriving after another copy of the same call was
    queued is not announced again.
    """
    rows = con.execute(
        """
        WITH latest AS (
            SELECT d.*, row_number() OVER (PARTITION BY d.event_id ORDER BY d.diagnosed_at DESC) AS rn
            FROM diagnoses d
            WHERE d.diagnosed_at >= ?
              AND NOT EXISTS (SELECT 1 FROM watch_outbox o WHERE o.event_id = d.event_id)
        )
        SELECT l.event_id, l.verdict, l.codes, l.findings, l.diagnosed_at, l.policies_as_of,
               e.event_time, e.event_name, e.event_source, e.error_code, e.caller_arn, e.caller_account,
               e.key_arn, e.aws_region, e.shared_event_id, e.request_id
        FROM latest l LEFT JOIN events e ON e.event_id = l.event_id
        WHERE l.rn = 1
          AND NOT (e.shared_event_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM watch_outbox o JOIN events x ON x.event_id = o.event_id
                WHERE x.shared_event_id = e.shared_event_id))
        QUALIFY row_number() OVER (
            PARTITION BY coalesce(e.shared_event_id, l.event_id) ORDER BY (e.caller_arn IS NULL), l.event_id
        ) = 1
        ORDER BY e.event_time, l.event_id
        """,
        [baseline],
    ).fetchall()
    if not rows:
        return 0
    now = utcnow()
    for r in rows:
        payload = build_payload(r)
        con.execute(
            "INSERT INTO watch_outbox (event_id, payload, queued_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [r[0], payload, now],
        )
    return len(rows)


def _iso(value: Any) -> str | None:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}" if isinstance(value, dt.datetime) else None


def build_payload(r: tuple[Any, ...]) -> str:
    """One diagnosis as one JSON line (the event and verdict, as `kmsdiag explain --json` names them)."""
    findings = orjson.loads(r[3]) if isinstance(r[3], str | bytes) else r[3]
    doc = {
        "event": {
            "event_id": r[0],
            "event_time": _iso(r[6]),
            "event_source": r[8],
            "event_name": r[7],
            "error_code": r[9],
            "caller_arn": r[10],
            "caller_account": r[11],
            "key_arn": r[12],
            "region": r[13],
            "shared_event_id": r[14],
            "request_id": r[15],
        },
        "verdict": r[1],
        "codes": list(r[2]) if r[2] is not None else [],
        "findings": findings if findings is not None else [],
        "policies_as_of": _iso(r[5]),
        "diagnosed_at": _iso(r[4]),
    }
    return orjson.dumps(doc).decode()


def pending_outbox(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT event_id, CAST(payload AS VARCHAR) FROM watch_outbox WHERE emitted_at IS NULL ORDER BY queued_at, event_id"
    ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def mark_emitted(con: duckdb.DuckDBPyConnection, done: list[tuple[str, str | None]]) -> None:
    now = utcnow()
    for event_id, status in done:
        con.execute(
            "UPDATE watch_outbox SET emitted_at = ?, webhook_status = ? WHERE event_id = ?", [now, status, event_id]
        )


# ---------------------------------------------------------------------------------------------- webhook


def check_webhook(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise UsageError(f"--webhook must be an http(s) URL, not {url!r}")
    return url


def post_webhook(
    url: str, line: str, *, timeout: float = 10.0, attempts: int = 3, sleep: Callable[[float], None] = time.sleep
) -> str:
    """POST one diagnosis as JSON; return the HTTP status (or the error) for the outbox record."""
    last = ""
    for attempt in range(attempts):
        req = urllib.request.Request(  # noqa: S310 - http(s) only, checked by check_webhook
            url,
            data=line.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "kmsdiag-watch"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked by check_webhook
                return str(resp.status)
        except urllib.error.HTTPError as exc:
            last = str(exc.code)
            if exc.code < 500 and exc.code != 429:
                return last
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = f"error: {exc}"
        if attempt + 1 < attempts:
            sleep(2.0**attempt)
    return last


# ---------------------------------------------------------------------------------------------- the loop


class Watcher:
    """The watch loop; every collaborator is injected so tests can drive cycles deterministically."""

    def __init__(
        self,
        db_path: Path,
        planner: PullPlanner,
        *,
        ingester: BlobIngester,
        diagnose: DiagnoseFn,
        interval: float = 300.0,
        webhook: str | None = None,
        out: TextIO | None = None,
        log: Callable[[str], None] | None = None,
        lock_wait: float = 30.0,
        stop: threading.Event | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db_path = db_path
        self.planner = planner
        self.ingester = ingester
        self.diagnose = diagnose
        self.interval = interval
        self.webhook = check_webhook(webhook) if webhook else None
        self.out = out or sys.stdout
        self.log = log or (lambda msg: None)
        self.lock_wait = lock_wait
        self.stop = stop or threading.Event()
        self.now = now
        self.cycles = 0
        self.emitted = 0

    # -- database phases -------------------------------------------------------------------------

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        from diag.store import open_db

        return open_db(self.db_path, read_only=read_only, wait=self.lock_wait)

    def _prepare(self) -> dt.datetime:
        con = self._open(read_only=False)  # creates and migrates the file on first use
        try:
            return ensure_baseline(con, self.now())
        finally:
            con.close()

    def _fetch(self, started: dt.datetime) -> tuple[list[Pull], Spool]:
        con = self._open(read_only=True)
        try:
            pulls = self.planner(con, started, self.stop)
        finally:
            con.close()
        spool = Spool.create()
        try:
            for pull in pulls:  # S3 listing, downloads, LookupEvents pages and Athena run here, lazily
                spool.add_all(pull.blobs)
        except BaseException:
            spool.close()
            raise
        return pulls, spool

    def _write(
        self, pulls: list[Pull], spool: Spool, baseline: dt.datetime, report: CycleReport
    ) -> list[tuple[str, str]]:
        con = self._open(read_only=False)
        try:
            if len(spool):
                ingest_summary = dict(self.ingester(con, spool.blobs()))
                report.sources.append({"source": "ingest", **ingest_summary})
            for pull in pulls:
                pull.finish(con)
            candidates = undiagnosed_failures(con)
            if candidates:
                self.diagnose(con, candidates)
            report.diagnosed = queue_new_diagnoses(con, baseline)
            return pending_outbox(con)
        finally:
            con.close()

    def _emit(self, pending: list[tuple[str, str]]) -> int:
        done: list[tuple[str, str | None]] = []
        for event_id, line in pending:
            self.out.write(line + "\n")
            self.out.flush()
            status = post_webhook(self.webhook, line) if self.webhook else None
            done.append((event_id, status))
        if done:
            con = self._open(read_only=False)
            try:
                mark_emitted(con, done)
            finally:
                con.close()
        return len(done)

    # -- one cycle and the loop ----------------------------------------------------------------------

    def cycle(self, baseline: dt.datetime) -> CycleReport:
        self.cycles += 1
        started = self.now()
        t0 = time.monotonic()
        report = CycleReport(self.cycles, started)
        pulls, spool = self._fetch(started)
        try:
            report.blobs = len(spool)
            pending = self._write(pulls, spool, baseline, report)
        finally:
            spool.close()
        for pull in pulls:
            report.sources.insert(0, _summary_dict(pull.summary))
        report.emitted = self._emit(pending)
        self.emitted += report.emitted
        report.seconds = time.monotonic() - t0
        errors = [p.error for p in pulls if p.error is not None]
        for error in errors:
            self.log(f"watch: a source failed this cycle: {getattr(error, 'message', None) or describe_error(error)}")
        return report

    def run(self, *, max_cycles: int | None = None) -> int:
        """Cycle until stopped (or ``max_cycles``); return the number of diagnoses emitted."""
        baseline = self._retrying(self._prepare)
        if baseline is None:
            return self.emitted
        while not self.stop.is_set():
            report = self._retrying(lambda: self.cycle(baseline))
            if report is not None:
                self.log(orjson.dumps(report.to_dict()).decode())
            if max_cycles is not None and self.cycles >= max_cycles:
                break
            self.stop.wait(self.interval)
        return self.emitted

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; on a transient AWS error or a busy database, back off (capped) and try again."""
        delay = min(5.0, self.interval)
        while not self.stop.is_set():
            try:
                return fn()
            except DatabaseLockedError as exc:
                self.log(f"watch: database busy, retrying in {delay:.0f}s: {exc.message}")
            except Exception as exc:
                if is_refused(exc):
                    raise RefusedError(f"AWS refused: {describe_error(exc)}") from exc
                if not is_transient(exc):
                    raise
                self.log(f"watch: transient AWS error, retrying in {delay:.0f}s: {describe_error(exc)}")
            self.stop.wait(delay)
            delay = min(delay * 2, max(self.interval, 5.0))
        return None


class StopOnSignals:
    """Context manager: SIGTERM and SIGINT set ``stop`` (a second SIGINT interrupts at once)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self) -> StopOnSignals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def iter_lines(text: str) -> Iterator[dict[str, Any]]:
    """Parse watch's stdout (one JSON object per line) — for tests and scripts."""
    for line in text.splitlines():
        if line.strip():
            yield orjson.loads(line)


def resolve_diagnose() -> DiagnoseFn:
    """The diagnosis step of each cycle: ``diag.diagnosis.batch.diagnose_pending`` (what `kmsdiag diagnose`
    runs), which diagnoses every stored failure that has no diagnosis yet, one evaluation per decision key."""
    from diag.diagnosis.batch import diagnose_pending

    def diagnose(con: duckdb.DuckDBPyConnection, event_ids: list[str]) -> Any:
        # diagnose_pending selects the undiagnosed failures itself (the same set as event_ids, restricted
        # to the KMS/S3 failures it can explain); watch then announces what it wrote.
        return diagnose_pending(con)

    return diagnose
