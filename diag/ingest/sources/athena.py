"""Push the CloudTrail filter down to Amazon Athena (Trino) over the trail bucket, page the rows in.

For organization trails with billions of events, scanning in DuckDB is not an option. kmsdiag writes
one query against a CloudTrail table with partition projection (``kmsdiag athena-ddl`` prints it)
that reads only the partitions of the window (date, account, region: Athena bills per byte scanned)
and returns only what kmsdiag keeps: KMS calls (successful ones optionally only for given keys), failed
S3 calls and S3 calls under SSE-KMS, policy and key changes (IAM, KMS, S3, Organizations) and STS role
sessions. It polls the query, records what it scanned, and pages the rows, rebuilt as CloudTrail
records (``{"Records": [...]}``), into the one ingest path.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from diag.errors import BadInputError, KmsdiagError, RefusedError
from diag.ingest.remote.aws import describe_error, error_code, is_refused
from diag.ingest.remote.blob import BlobIngester, RemoteBlob, remote_blob
from diag.ingest.remote.pull import Pull
from diag.ingest.remote.timeparse import utcnow
from diag.ingest.remote.watermarks import get_watermark, set_watermark
from diag.ingest.sources.athena_rows import transform_result_rows, transform_row
from diag.ingest.sources.athena_sql import AthenaTable, build_query
from diag.times import cloudtrail_time

if TYPE_CHECKING:
    import duckdb

SOURCE = "athena"
OVERLAP = dt.timedelta(hours=1)  # files land minutes after their events; re-read the last hour
DEFAULT_FIRST_WINDOW = dt.timedelta(days=1)
PAGE_SIZE = 1000
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


@dataclass
class AthenaSummary:
    query_execution_id: str = ""
    state: str = ""
    window_start: str = ""
    window_end: str = ""
    bytes_scanned: int = 0
    rows: int = 0
    pages: int = 0
    ingest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "query_execution_id": self.query_execution_id,
            "state": self.state,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "bytes_scanned": self.bytes_scanned,
            "rows": self.rows,
            "pages": self.pages,
            "ingest": self.ingest,
        }


class AthenaQueryFailed(KmsdiagError):
    """The query ended FAILED or CANCELLED (exit code 4: AWS refused to give us the rows)."""

    exit_code = 4

    def __init__(self, message: str, *, state: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.state = state


# ---------------------------------------------------------------------------------------------- Athena calls


def start_query(client: Any, sql: str, table: AthenaTable, *, workgroup: str | None, output: str | None) -> str:
    params: dict[str, Any] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": table.database, "Catalog": table.catalog},
    }
    if workgroup:
        params["WorkGroup"] = workgroup
    if output:
        params["ResultConfiguration"] = {"OutputLocation": output}
    try:
        return str(client.start_query_execution(**params)["QueryExecutionId"])
    except Exception as exc:
        if _is_bad_query(exc):
            raise BadInputError(f"Athena did not accept the query: {describe_error(exc)}") from exc
        raise RefusedError(f"Athena refused the query: {describe_error(exc)}") from exc


#: Error codes by which Athena says the query text or its names (database, table, workgroup) are wrong:
#: something the user gave us. Every other failure (credentials, permissions, throttling, an HTTP status
#: without an Athena error code, an unreachable endpoint) is AWS refusing the call.
BAD_QUERY_CODES = frozenset({"InvalidRequestException", "MetadataException", "ResourceNotFoundException"})


def _is_bad_query(exc: BaseException) -> bool:
    return not is_refused(exc) and error_code(exc) in BAD_QUERY_CODES


def wait_for_query(
    client: Any,
    qid: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 1800.0,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Poll until the query ends (0.5 s, growing to 5 s); a FAILED/CANCELLED query raises with AWS's reason.

    Timing out or being stopped cancels the query, so nothing keeps scanning (and billing) behind us.
    """
    deadline = clock() + timeout
    delay = 0.5
    while True:
        execution = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        status = execution.get("Status", {})
        state = status.get("State", "")
        if state in TERMINAL_STATES:
            if state != "SUCCEEDED":
                reason = (
                    status.get("StateChangeReason")
                    or status.get("AthenaError", {}).get("ErrorMessage")
                    or "no reason given"
                )
                raise AthenaQueryFailed(
                    f"the Athena query {qid} ended {state}: {reason}",
                    state=state,
                    hint="check the table (kmsdiag athena-ddl), the workgroup's output location and your permissions",
                )
            return dict(execution)
        if clock() >= deadline or (stop is not None and stop.is_set()):
            client.stop_query_execution(QueryExecutionId=qid)
            raise AthenaQueryFailed(
                f"the Athena query {qid} did not finish in time and was cancelled", state="CANCELLED"
            )
        sleep(delay)
        delay = min(delay * 1.5, 5.0)


def get_result_pages(client: Any, qid: str, *, page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, str | None]]]:
    params: dict[str, Any] = {"QueryExecutionId": qid, "MaxResults": page_size}
    first = True
    while True:
        resp = client.get_query_results(**params)
        yield transform_result_rows(resp.get("ResultSet", {}), first_page=first)
        first = False
        token = resp.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def _record_query(
    con: duckdb.DuckDBPyConnection,
    qid: str,
    table: AthenaTable,
    since: dt.datetime,
    until: dt.datetime,
    sql: str,
    execution: dict[str, Any] | None,
    state: str,
    reason: str | None,
    rows: int,
) -> None:
    stats = (execution or {}).get("Statistics", {})
    status = (execution or {}).get("Status", {})

    def ts(value: Any) -> dt.datetime | None:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return None

    con.execute(
        "INSERT OR REPLACE INTO athena_queries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            qid,
            table.scope,
            since,
            until,
            state,
            reason,
            int(stats.get("DataScannedInBytes", 0) or 0),
            rows,
            sql,
            ts(status.get("SubmissionDateTime")),
            ts(status.get("CompletionDateTime")) or utcnow(),
        ],
    )


def pull_athena(
    table: AthenaTable,
    watermark: dt.datetime | None,
    *,
    client: Any,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    key_arns: Sequence[str] = (),
    workgroup: str | None = None,
    output: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 1800.0,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> Pull:
    """Run the query for the window (``since``, else the watermark minus an hour, else 24 h) to the end.

    Lazy: the query starts when the consumer first iterates the blobs (so a caller can close its
    database connection first), is polled to the end, and its rows are paged as blobs. ``finish``
    records the query in ``athena_queries`` and advances the watermark; a FAILED/CANCELLED query ends the
    blobs, is recorded by ``finish``, and ``Pull.error`` holds the error for the caller to raise.
    """
    now = now or utcnow()
    until = min(until or now, now)
    if since is None:
        since = watermark - OVERLAP if watermark else until - DEFAULT_FIRST_WINDOW
    window_start = since
    sql = build_query(table, since=since, until=until, accounts=accounts, regions=regions, key_arns=key_arns)
    summary = AthenaSummary(window_start=cloudtrail_time(since), window_end=cloudtrail_time(until))
    state: dict[str, Any] = {}
    pull = Pull((), summary)

    def blobs() -> Iterator[RemoteBlob]:
        qid = start_query(client, sql, table, workgroup=workgroup, output=output)
        summary.query_execution_id = state["qid"] = qid
        try:
            execution = wait_for_query(client, qid, sleep=sleep, timeout=timeout, stop=stop)
        except AthenaQueryFailed as exc:
            summary.state = exc.state
            pull.error = state["failed"] = exc
            return
        state["execution"] = execution
        summary.state = "SUCCEEDED"
        summary.bytes_scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0) or 0)
        for page_no, rows in enumerate(get_result_pages(client, qid)):
            if rows:
                data = orjson.dumps({"Records": [transform_row(r) for r in rows]})
                summary.rows += len(rows)
                summary.pages += 1
                yield remote_blob(f"athena:{qid}#{page_no}", SOURCE, data)
        state["complete"] = True

    def finish(con: duckdb.DuckDBPyConnection) -> None:
        if "qid" not in state:
            return  # never started
        failed: AthenaQueryFailed | None = state.get("failed")
        if failed is not None:
            _record_query(con, state["qid"], table, window_start, until, sql, None, failed.state, failed.message, 0)
            return
        _record_query(
            con, state["qid"], table, window_start, until, sql, state.get("execution"), "SUCCEEDED", None, summary.rows
        )
        if state.get("complete"):
            set_watermark(con, SOURCE, table.scope, until)

    pull.blobs = blobs()
    pull.finish = finish
    return pull


def sync_athena(
    con: duckdb.DuckDBPyConnection,
    table: AthenaTable,
    *,
    client: Any,
    ingester: BlobIngester,
    **kwargs: Any,
) -> AthenaSummary:
    """Query the window (see :func:`pull_athena`), ingest the rows, record the query; raise if it failed."""
    pull = pull_athena(table, get_watermark(con, SOURCE, table.scope), client=client, **kwargs)
    summary: AthenaSummary = pull.summary
    summary.ingest = dict(ingester(con, pull.blobs))
    pull.finish(con)
    if pull.error is not None:
        raise pull.error
    return summary
