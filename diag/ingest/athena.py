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
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from diag.change_events import KMS_S3_CHANGES
from diag.errors import BadInputError, KmsdiagError, RefusedError, UsageError
from diag.ingest.filter import IAM_READ_PREFIXES, ORGANIZATIONS_KEPT, STS_KEPT
from diag.ingest.remote.aws import describe_error, error_code, is_refused
from diag.ingest.remote.blob import BlobIngester, RemoteBlob, remote_blob
from diag.ingest.remote.pull import Pull
from diag.ingest.remote.timeparse import utcnow
from diag.ingest.remote.watermarks import get_watermark, set_watermark

if TYPE_CHECKING:
    import duckdb

SOURCE = "athena"
OVERLAP = dt.timedelta(hours=1)  # files land minutes after their events; re-read the last hour
DEFAULT_FIRST_WINDOW = dt.timedelta(days=1)
PAGE_SIZE = 1000
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")


# Write events whose effect diagnosis reconstructs (policy history, key state, grants).
POLICY_CHANGE_EVENTS = KMS_S3_CHANGES


@dataclass(frozen=True)
class AthenaTable:
    """A CloudTrail table in the Glue catalog and the names of its partition columns."""

    database: str
    table: str
    account_column: str = "p_account"
    region_column: str = "p_region"
    date_column: str = "p_date"
    catalog: str = "AwsDataCatalog"

    def __post_init__(self) -> None:
        for name in (self.database, self.table, self.account_column, self.region_column, self.date_column):
            if not _IDENT_RE.match(name):
                raise UsageError(f"{name!r} is not a valid Athena identifier (letters, digits, underscore)")

    @property
    def qualified(self) -> str:
        return f'"{self.database}"."{self.table}"'

    @property
    def scope(self) -> str:
        return f"{self.database}.{self.table}"

    @classmethod
    def parse(cls, text: str) -> AthenaTable:
        """``database.table`` (or ``table`` in ``default``)."""
        db, _, tbl = text.rpartition(".")
        return cls(database=db or "default", table=tbl)


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


# ---------------------------------------------------------------------------------------------- SQL


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(_lit(v) for v in values)


def _check(values: Sequence[str], pattern: re.Pattern[str], what: str) -> None:
    for v in values:
        if not pattern.match(v):
            raise UsageError(f"{v!r} is not a valid {what}")


# (alias, expression) of every selected column; the aliases are what transform_row reads.
SELECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("eventid", "eventid"),
    ("eventtime", "eventtime"),
    ("eventversion", "eventversion"),
    ("eventsource", "eventsource"),
    ("eventname", "eventname"),
    ("eventtype", "eventtype"),
    ("awsregion", "awsregion"),
    ("sourceipaddress", "sourceipaddress"),
    ("useragent", "useragent"),
    ("errorcode", "errorcode"),
    ("errormessage", "errormessage"),
    ("ui_type", "useridentity.type"),
    ("ui_principalid", "useridentity.principalid"),
    ("ui_arn", "useridentity.arn"),
    ("ui_accountid", "useridentity.accountid"),
    ("ui_invokedby", "useridentity.invokedby"),
    ("ui_accesskeyid", "useridentity.accesskeyid"),
    ("ui_username", "useridentity.username"),
    ("si_type", "useridentity.sessioncontext.sessionissuer.type"),
    ("si_principalid", "useridentity.sessioncontext.sessionissuer.principalid"),
    ("si_arn", "useridentity.sessioncontext.sessionissuer.arn"),
    ("si_accountid", "useridentity.sessioncontext.sessionissuer.accountid"),
    ("si_username", "useridentity.sessioncontext.sessionissuer.username"),
    ("sc_mfaauthenticated", "useridentity.sessioncontext.attributes.mfaauthenticated"),
    ("sc_creationdate", "useridentity.sessioncontext.attributes.creationdate"),
    ("requestparameters", "requestparameters"),
    ("responseelements", "responseelements"),
    ("additionaleventdata", "additionaleventdata"),
    ("requestid", "requestid"),
    ("readonly", "readonly"),
    (
        "resources_json",
        "json_format(CAST(transform(resources, r -> map(ARRAY['ARN', 'accountId', 'type'], "
        "ARRAY[r.arn, r.accountid, r.type])) AS JSON))",
    ),
    ("recipientaccountid", "recipientaccountid"),
    ("sharedeventid", "sharedeventid"),
    ("vpcendpointid", "vpcendpointid"),
    ("eventcategory", "eventcategory"),
)


def build_query(
    table: AthenaTable,
    *,
    since: dt.datetime,
    until: dt.datetime,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    key_arns: Sequence[str] = (),
) -> str:
    """The Trino query: partition predicates first (what Athena reads), then the kmsdiag filter.

    ``since``/``until`` (UTC) bound both the date partitions and ``eventtime``; the date range also
    includes the day after ``until`` because a log file delivered after midnight lands in the next
    day's folder. ``key_arns`` narrows only the *successful* KMS calls; failures are always kept.
    """
    if until <= since:
        raise UsageError("the Athena window is empty: --until must be after --since")
    _check(accounts, _ACCOUNT_RE, "12-digit account ID")
    _check(regions, _REGION_RE, "region name")
    _check(key_arns, _KEY_ARN_RE, "KMS key ARN")
    day_from = f"{since:%Y/%m/%d}"
    day_to = f"{until + dt.timedelta(days=1):%Y/%m/%d}"
    where = [f'"{table.date_column}" BETWEEN {_lit(day_from)} AND {_lit(day_to)}']
    if accounts:
        where.append(f'"{table.account_column}" IN ({_in_list(sorted(set(accounts)))})')
    if regions:
        where.append(f'"{table.region_column}" IN ({_in_list(sorted(set(regions)))})')
    where.append(f"eventtime >= {_lit(f'{since:%Y-%m-%dT%H:%M:%SZ}')}")
    where.append(f"eventtime < {_lit(f'{until:%Y-%m-%dT%H:%M:%SZ}')}")
    kms_success = "eventsource = 'kms.amazonaws.com'"
    if key_arns:
        kms_success += (
            " AND (errorcode IS NOT NULL OR eventname IN ("
            + _in_list(POLICY_CHANGE_EVENTS)
            + f") OR any_match(resources, r -> r.arn IN ({_in_list(sorted(set(key_arns)))})))"
        )
    keep = [
        f"({kms_success})",
        "(eventsource = 's3.amazonaws.com' AND (errorcode IS NOT NULL"
        f" OR eventname IN ({_in_list(POLICY_CHANGE_EVENTS)})"
        " OR additionaleventdata LIKE '%SSE_KMS%' OR requestparameters LIKE '%aws:kms%'))",
        # the same IAM / STS / Organizations events as diag.ingest.filter keeps
        "(eventsource = 'iam.amazonaws.com' AND NOT ("
        + " OR ".join(f"eventname LIKE {_lit(p + '%')}" for p in IAM_READ_PREFIXES)
        + "))",
        f"(eventsource = 'sts.amazonaws.com' AND eventname IN ({_in_list(sorted(STS_KEPT))}))",
        f"(eventsource = 'organizations.amazonaws.com' AND eventname IN ({_in_list(sorted(ORGANIZATIONS_KEPT))}))",
    ]
    cols = ",\n  ".join(expr if alias == expr else f"{expr} AS {alias}" for alias, expr in SELECT_COLUMNS)
    return (
        f"-- kmsdiag: CloudTrail events kept by kmsdiag, {since:%Y-%m-%dT%H:%M:%SZ} to {until:%Y-%m-%dT%H:%M:%SZ}\n"
        f"SELECT\n  {cols}\nFROM {table.qualified}\nWHERE "
        + "\n  AND ".join(where)
        + "\n  AND (\n    "
        + "\n    OR ".join(keep)
        + "\n  )"
    )


_DDL_UNSAFE_RE = re.compile(r"['\\\x00-\x1f\x7f]|\$\{")


def _check_ddl_location(location: str) -> None:
    """Refuse a location the DDL cannot hold as written (exit 3).

    The location goes into single-quoted Hive string literals (``LOCATION '…'`` and the
    ``storage.location.template`` property). Hive's lexer reads ``\\`` as an escape and two adjacent
    literals as one (``'a''b'`` is ``ab``, not ``a'b``), and Athena expands ``${name}`` in the template;
    rather than guess how Athena treats an escaped quote in an S3 path, such a location is refused.
    """
    bad = _DDL_UNSAFE_RE.search(location)
    if bad:
        raise BadInputError(
            f"cannot write an Athena table for {location!r}: {bad.group(0)!r} cannot appear in a DDL location"
            " (single quotes, backslashes, control characters and '${' are refused)",
            hint="create the table by hand in the Athena console, or move the trail to a prefix without them",
        )


def athena_ddl(
    location: str,
    *,
    table: AthenaTable,
    org_id: str | None = None,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    start: dt.date = dt.date(2024, 1, 1),
) -> str:
    """CREATE EXTERNAL TABLE for a trail bucket, partitions projected by account, region and date.

    ``location`` is ``s3://bucket[/prefix]`` (the folder holding ``AWSLogs/``). Accounts are an enum
    when given (queries may then omit them), else *injected* (every query must name its accounts).
    """
    from diag.aws_regions import cloudtrail_regions
    from diag.ingest.s3 import parse_s3_uri

    target = parse_s3_uri(location)
    _check_ddl_location(location)
    if org_id is not None and not _ORG_RE.match(org_id):
        raise UsageError(f"{org_id!r} is not an organization ID (o-...)")
    _check(accounts, _ACCOUNT_RE, "12-digit account ID")
    known = cloudtrail_regions()
    _check([r for r in regions if r not in known], _REGION_RE, "region name")
    prefix = target.prefix if target.prefix.endswith("AWSLogs/") else target.prefix + "AWSLogs/"
    root = f"s3://{target.bucket}/{prefix}" + (f"{org_id}/" if org_id else "")
    acc, reg, day = table.account_column, table.region_column, table.date_column
    if accounts:
        account_props = [
            f"'projection.{acc}.type'='enum'",
            f"'projection.{acc}.values'='{','.join(sorted(set(accounts)))}'",
        ]
    else:
        account_props = [f"'projection.{acc}.type'='injected'"]
    region_values = ",".join(sorted(set(regions or known)))
    props = [
        "'projection.enabled'='true'",
        *account_props,
        f"'projection.{reg}.type'='enum'",
        f"'projection.{reg}.values'='{region_values}'",
        f"'projection.{day}.type'='date'",
        f"'projection.{day}.format'='yyyy/MM/dd'",
        f"'projection.{day}.range'='{start:%Y/%m/%d},NOW'",
        f"'projection.{day}.interval'='1'",
        f"'projection.{day}.interval.unit'='DAYS'",
        f"'storage.location.template'='{root}${{{acc}}}/CloudTrail/${{{reg}}}/${{{day}}}'",
    ]
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS `{table.database}`.`{table.table}` (
  eventversion STRING,
  useridentity STRUCT<
    type: STRING, principalid: STRING, arn: STRING, accountid: STRING, invokedby: STRING,
    accesskeyid: STRING, username: STRING,
    onbehalfof: STRUCT<userid: STRING, identitystorearn: STRING>,
    sessioncontext: STRUCT<
      attributes: STRUCT<mfaauthenticated: STRING, creationdate: STRING>,
      sessionissuer: STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING, username: STRING>,
      ec2roledelivery: STRING,
      webidfederationdata: STRUCT<federatedprovider: STRING, attributes: MAP<STRING, STRING>>,
      sourceidentity: STRING>>,
  eventtime STRING,
  eventsource STRING,
  eventname STRING,
  awsregion STRING,
  sourceipaddress STRING,
  useragent STRING,
  errorcode STRING,
  errormessage STRING,
  requestparameters STRING,
  responseelements STRING,
  additionaleventdata STRING,
  requestid STRING,
  eventid STRING,
  readonly STRING,
  resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
  eventtype STRING,
  apiversion STRING,
  recipientaccountid STRING,
  serviceeventdetails STRING,
  sharedeventid STRING,
  vpcendpointid STRING,
  vpcendpointaccountid STRING,
  eventcategory STRING,
  tlsdetails STRUCT<tlsversion: STRING, ciphersuite: STRING, clientprovidedhostheader: STRING>
)
COMMENT 'CloudTrail logs for kmsdiag (partition projection: {acc}, {reg}, {day})'
PARTITIONED BY (`{acc}` STRING, `{reg}` STRING, `{day}` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{root}'
TBLPROPERTIES (
  {("," + chr(10) + "  ").join(props)}
);
"""


# ---------------------------------------------------------------------------------------------- rows


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def transform_row(row: dict[str, str | None]) -> dict[str, Any]:
    """One result row (alias → text) rebuilt as the CloudTrail record it came from."""
    g = row.get
    identity: dict[str, Any] = {
        k: v
        for k, v in {
            "type": g("ui_type"),
            "principalId": g("ui_principalid"),
            "arn": g("ui_arn"),
            "accountId": g("ui_accountid"),
            "invokedBy": g("ui_invokedby"),
            "accessKeyId": g("ui_accesskeyid"),
            "userName": g("ui_username"),
        }.items()
        if v is not None
    }
    issuer = {
        k: v
        for k, v in {
            "type": g("si_type"),
            "principalId": g("si_principalid"),
            "arn": g("si_arn"),
            "accountId": g("si_accountid"),
            "userName": g("si_username"),
        }.items()
        if v is not None
    }
    attributes = {
        k: v
        for k, v in {"mfaAuthenticated": g("sc_mfaauthenticated"), "creationDate": g("sc_creationdate")}.items()
        if v
    }
    if issuer or attributes:
        identity["sessionContext"] = {"sessionIssuer": issuer, "attributes": attributes}
    readonly = g("readonly")
    record: dict[str, Any] = {
        "eventVersion": g("eventversion"),
        "userIdentity": identity,
        "eventTime": g("eventtime"),
        "eventSource": g("eventsource"),
        "eventName": g("eventname"),
        "awsRegion": g("awsregion"),
        "sourceIPAddress": g("sourceipaddress"),
        "userAgent": g("useragent"),
        "requestParameters": _json_or_text(g("requestparameters")),
        "responseElements": _json_or_text(g("responseelements")),
        "requestID": g("requestid"),
        "eventID": g("eventid"),
        "readOnly": None if readonly is None else readonly.lower() == "true",
        "eventType": g("eventtype"),
        "recipientAccountId": g("recipientaccountid"),
        "eventCategory": g("eventcategory"),
    }
    for key, alias in (
        ("errorCode", "errorcode"),
        ("errorMessage", "errormessage"),
        ("sharedEventID", "sharedeventid"),
        ("vpcEndpointId", "vpcendpointid"),
    ):
        if g(alias) is not None:
            record[key] = g(alias)
    extra = _json_or_text(g("additionaleventdata"))
    if extra is not None:
        record["additionalEventData"] = extra
    resources = _json_or_text(g("resources_json"))
    if isinstance(resources, list) and resources:
        record["resources"] = [{k: v for k, v in r.items() if v is not None} for r in resources if isinstance(r, dict)]
    return {k: v for k, v in record.items() if v is not None or k in ("requestParameters", "responseElements")}


def transform_result_rows(result_set: dict[str, Any], *, first_page: bool) -> list[dict[str, str | None]]:
    """Athena's ``ResultSet`` → dicts by column name; the header row of the first page is dropped."""
    names = [c.get("Label") or c.get("Name") for c in result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
    rows = result_set.get("Rows", []) or []
    out = []
    for i, row in enumerate(rows):
        values = [d.get("VarCharValue") for d in row.get("Data", [])]
        if i == 0 and first_page and values == names:
            continue
        out.append(dict(zip(names, values, strict=False)))
    return out


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
    summary = AthenaSummary(window_start=f"{since:%Y-%m-%dT%H:%M:%SZ}", window_end=f"{until:%Y-%m-%dT%H:%M:%SZ}")
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
