"""Athena push-down: the SQL prunes partitions, the DDL projects them, the run path pages rows in,
and a FAILED query is a clear error. The run path uses botocore's Stubber (moto's server no longer speaks
botocore's Athena protocol), which checks requests and responses against botocore's service model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from diag.errors import KmsdiagError, UsageError
from diag.ingest.sources.athena import AthenaQueryFailed, sync_athena
from diag.ingest.sources.athena_ddl import athena_ddl
from diag.ingest.sources.athena_rows import transform_row
from diag.ingest.sources.athena_sql import SELECT_COLUMNS, AthenaTable, build_query
from diag.store import open_db
from tests.remote.conftest import ACCOUNT_A, ACCOUNT_B, ORG, Recorder

TABLE = AthenaTable("security", "cloudtrail_kmsdiag")
SINCE = dt.datetime(2026, 11, 27, 6, 0)
UNTIL = dt.datetime(2026, 11, 28, 6, 0)


def test_query_has_partition_predicates_and_the_kmsdiag_filter() -> None:
    sql = build_query(TABLE, since=SINCE, until=UNTIL, accounts=[ACCOUNT_B, ACCOUNT_A], regions=["us-east-1"])
    assert "\"p_date\" BETWEEN '2026/11/27' AND '2026/11/29'" in sql
    assert f"\"p_account\" IN ('{ACCOUNT_A}', '{ACCOUNT_B}')" in sql
    assert "\"p_region\" IN ('us-east-1')" in sql
    assert "eventtime >= '2026-11-27T06:00:00Z'" in sql and "eventtime < '2026-11-28T06:00:00Z'" in sql
    assert "eventsource = 'kms.amazonaws.com'" in sql
    assert "eventsource = 'sts.amazonaws.com' AND eventname IN ('AssumeRole'," in sql
    assert "eventsource = 'iam.amazonaws.com' AND NOT (eventname LIKE 'Get%'" in sql
    assert 'FROM "security"."cloudtrail_kmsdiag"' in sql
    # the partition predicates come before the (non-partition) filters
    assert sql.index("p_date") < sql.index("eventtime >=")
    keyed = build_query(
        TABLE,
        since=SINCE,
        until=UNTIL,
        key_arns=["arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    )
    assert "any_match(resources, r -> r.arn IN ('arn:aws:kms:us-east-1:111111111111:key/1234abcd" in keyed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"accounts": ["1111' OR 1=1 --"]},
        {"regions": ["us-east-1'; DROP TABLE x"]},
        {"key_arns": ["arn:aws:kms:us-east-1:111111111111:key/x' OR '1'='1"]},
    ],
)
def test_query_rejects_values_that_are_not_ids(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        build_query(TABLE, since=SINCE, until=UNTIL, **kwargs)


def test_identifiers_are_validated() -> None:
    with pytest.raises(UsageError):
        AthenaTable.parse('db.tbl"; DROP')
    assert AthenaTable.parse("cloudtrail").database == "default"


def test_ddl_projects_account_region_and_date() -> None:
    ddl = athena_ddl(
        "s3://org-trail-logs/trail",
        table=TABLE,
        org_id=ORG,
        accounts=[ACCOUNT_A, ACCOUNT_B],
        regions=["us-east-1", "eu-west-1"],
    )
    assert "LOCATION 's3://org-trail-logs/trail/AWSLogs/o-abcdef1234/'" in ddl
    assert (
        "'storage.location.template'='s3://org-trail-logs/trail/AWSLogs/o-abcdef1234/${p_account}/CloudTrail/${p_region}/${p_date}'"
        in ddl
    )
    assert f"'projection.p_account.values'='{ACCOUNT_A},{ACCOUNT_B}'" in ddl
    assert "'projection.p_region.values'='eu-west-1,us-east-1'" in ddl
    assert "'projection.p_date.format'='yyyy/MM/dd'" in ddl
    assert "'projection.p_date.range'='2024/01/01,NOW'" in ddl
    assert "com.amazon.emr.cloudtrail.CloudTrailInputFormat" in ddl
    injected = athena_ddl("s3://b", table=TABLE)
    assert "'projection.p_account.type'='injected'" in injected
    assert "LOCATION 's3://b/AWSLogs/'" in injected


def _row(values: dict[str, str | None]) -> dict[str, Any]:
    return {"Data": [({"VarCharValue": values[a]} if values.get(a) is not None else {}) for a, _ in SELECT_COLUMNS]}


def athena_values(event_id: str, *, error: str | None = "AccessDenied") -> dict[str, str | None]:
    return {
        "eventid": event_id,
        "eventtime": "2026-11-27T10:00:00Z",
        "eventversion": "1.08",
        "eventsource": "kms.amazonaws.com",
        "eventname": "Decrypt",
        "eventtype": "AwsApiCall",
        "awsregion": "us-east-1",
        "sourceipaddress": "10.0.0.1",
        "useragent": "aws-sdk-java",
        "errorcode": error,
        "errormessage": "not authorized" if error else None,
        "ui_type": "AssumedRole",
        "ui_principalid": "AROAEXAMPLE:app",
        "ui_arn": f"arn:aws:sts::{ACCOUNT_B}:assumed-role/DataProcessingRole/app",
        "ui_accountid": ACCOUNT_B,
        "si_type": "Role",
        "si_arn": f"arn:aws:iam::{ACCOUNT_B}:role/DataProcessingRole",
        "si_accountid": ACCOUNT_B,
        "si_username": "DataProcessingRole",
        "requestparameters": '{"keyId":"arn:aws:kms:us-east-1:111111111111:key/k1","encryptionContext":{"a":"b"}}',
        "responseelements": None,
        "requestid": f"req-{event_id}",
        "readonly": "true",
        "resources_json": '[{"ARN":"arn:aws:kms:us-east-1:111111111111:key/k1","accountId":"111111111111","type":"AWS::KMS::Key"}]',
        "recipientaccountid": ACCOUNT_B,
        "sharedeventid": None,
        "eventcategory": "Management",
    }


def test_row_is_rebuilt_as_a_cloudtrail_record() -> None:
    rec = transform_row(athena_values("e1"))
    assert rec["eventID"] == "e1" and rec["errorCode"] == "AccessDenied" and rec["readOnly"] is True
    assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"].endswith(":role/DataProcessingRole")
    assert rec["requestParameters"]["encryptionContext"] == {"a": "b"}
    assert rec["resources"][0]["ARN"].endswith("key/k1")
    assert "sharedEventID" not in rec


def _results(rows: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    """A GetQueryResults response in the shape of the Athena API reference (ResultSet.Rows/ResultSetMetadata)."""
    column_info = [
        {"CatalogName": "hive", "SchemaName": "security", "TableName": "cloudtrail_kmsdiag", "Name": a, "Label": a,
         "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": True}
        for a, _ in SELECT_COLUMNS
    ]  # fmt: skip
    out: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": column_info}},
    }
    if next_token:
        out["NextToken"] = next_token
    return out


def _athena_client() -> Any:
    return boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def test_run_path_pages_rows_into_the_ingester(db_path: Path) -> None:
    """The whole run path with the current botocore: start, poll, two pages of results, watermark.

    moto's server cannot follow botocore's Athena protocol (botocore 1.44 speaks rest-json to Athena and
    moto answers 404), so the AWS side is botocore's Stubber, which validates every request and response
    against the service model shipped with botocore (the API reference's shapes)."""
    header = {"Data": [{"VarCharValue": a} for a, _ in SELECT_COLUMNS]}
    client = _athena_client()
    stub = Stubber(client)
    seen_sql: list[str] = []
    client.meta.events.register(
        "before-parameter-build.athena.StartQueryExecution", lambda params, **_: seen_sql.append(params["QueryString"])
    )
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _execution("q-1", "RUNNING"))
    stub.add_response("get_query_execution", _execution("q-1", "SUCCEEDED"))
    stub.add_response("get_query_results", _results([header, _row(athena_values("e1"))], next_token="t2"))
    stub.add_response("get_query_results", _results([_row(athena_values("e2", error=None))]))
    rec = Recorder()
    con = open_db(db_path)
    with stub:
        summary = sync_athena(
            con,
            TABLE,
            client=client,
            ingester=rec,
            since=SINCE,
            until=UNTIL,
            now=UNTIL,
            accounts=[ACCOUNT_A],
            output="s3://athena-results/kmsdiag/",
            sleep=lambda s: None,
        )
        stub.assert_no_pending_responses()
    assert summary.state == "SUCCEEDED" and summary.rows == 2 and summary.pages == 2
    assert rec.event_ids() == ["e1", "e2"]
    assert rec.blobs[0].name == "athena:q-1#0" and rec.blobs[0].source == "athena"
    assert f"\"p_account\" IN ('{ACCOUNT_A}')" in seen_sql[0]
    row = con.execute("SELECT state, rows_returned, table_name FROM athena_queries").fetchone()
    assert row == ("SUCCEEDED", 2, "security.cloudtrail_kmsdiag")
    assert con.execute("SELECT watermark FROM remote_watermarks WHERE source = 'athena'").fetchone() == (UNTIL,)
    # the next run (no --since) starts one hour before the watermark
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    stub.add_response("get_query_execution", _execution("q-2", "SUCCEEDED"))
    stub.add_response("get_query_results", _results([header]))
    later = UNTIL + dt.timedelta(hours=2)
    with stub:
        summary2 = sync_athena(con, TABLE, client=client, ingester=rec, now=later, sleep=lambda s: None)
    assert summary2.window_start == "2026-11-28T05:00:00Z" and summary2.rows == 0
    con.close()


@pytest.mark.parametrize(
    ("code", "http", "exit_code"),
    [
        ("InvalidRequestException", 400, 3),  # the query or a name the user gave is wrong
        ("AccessDeniedException", 403, 4),  # credentials or permissions
        ("404", 404, 4),  # an HTTP status with no Athena error code: the endpoint refused, not the user
        ("InternalServerException", 500, 4),
    ],
)
def test_start_query_errors_are_classified(db_path: Path, code: str, http: int, exit_code: int) -> None:
    client = _athena_client()
    stub = Stubber(client)
    stub.add_client_error("start_query_execution", service_error_code=code, service_message="m", http_status_code=http)
    con = open_db(db_path)
    with stub, pytest.raises(KmsdiagError) as info:
        sync_athena(con, TABLE, client=client, ingester=Recorder(), since=SINCE, until=UNTIL, now=UNTIL)
    assert info.value.exit_code == exit_code, info.value
    con.close()


def _execution(qid: str, state: str, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": qid, "Status": status, "Statistics": {"DataScannedInBytes": 1234}}}


def test_failed_query_is_a_clear_error_and_is_recorded(db_path: Path) -> None:
    # moto's executions always succeed, so the FAILED state comes from a Stubber
    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _execution("q-1", "RUNNING"))
    stub.add_response("get_query_execution", _execution("q-1", "FAILED", "HIVE_BAD_DATA: Error parsing field value"))
    con = open_db(db_path)
    sleeps: list[float] = []
    with stub, pytest.raises(AthenaQueryFailed, match="ended FAILED: HIVE_BAD_DATA") as info:
        sync_athena(
            con, TABLE, client=client, ingester=Recorder(), since=SINCE, until=UNTIL, now=UNTIL, sleep=sleeps.append
        )
    assert info.value.exit_code == 4 and info.value.hint
    assert sleeps == [0.5]
    assert con.execute("SELECT state, state_reason LIKE '%HIVE_BAD_DATA%' FROM athena_queries").fetchone() == (
        "FAILED",
        True,
    )
    assert con.execute("SELECT count(*) FROM remote_watermarks").fetchone() == (0,)
    con.close()


def test_cancelled_and_paginated(db_path: Path) -> None:
    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    stub.add_response("get_query_execution", _execution("q-2", "CANCELLED", "Query cancelled by user"))
    con = open_db(db_path)
    with stub, pytest.raises(AthenaQueryFailed, match="CANCELLED"):
        sync_athena(
            con, TABLE, client=client, ingester=Recorder(), since=SINCE, until=UNTIL, now=UNTIL, sleep=lambda s: None
        )
    stub = Stubber(client)
    cols = {"ColumnInfo": [{"Name": a, "Label": a, "Type": "varchar"} for a, _ in SELECT_COLUMNS]}
    header = {"Data": [{"VarCharValue": a} for a, _ in SELECT_COLUMNS]}
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-3"})
    stub.add_response("get_query_execution", _execution("q-3", "SUCCEEDED"))
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [header, _row(athena_values("p1"))], "ResultSetMetadata": cols}, "NextToken": "t2"},
        {"QueryExecutionId": "q-3", "MaxResults": 1000},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [_row(athena_values("p2"))], "ResultSetMetadata": cols}},
        {"QueryExecutionId": "q-3", "MaxResults": 1000, "NextToken": "t2"},
    )
    rec = Recorder()
    with stub:
        summary = sync_athena(
            con, TABLE, client=client, ingester=rec, since=SINCE, until=UNTIL, now=UNTIL, sleep=lambda s: None
        )
        stub.assert_no_pending_responses()
    assert rec.event_ids() == ["p1", "p2"] and summary.pages == 2 and summary.bytes_scanned == 1234
    con.close()


def test_athena_rows_normalize_like_trail_records(db_path: Path) -> None:
    """Rows go through the real ingest path: the same typed columns as a record read from a file."""
    from diag.ingest.remote.blob import default_ingester

    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    cols = {"ColumnInfo": [{"Name": a, "Label": a, "Type": "varchar"} for a, _ in SELECT_COLUMNS]}
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-4"})
    stub.add_response("get_query_execution", _execution("q-4", "SUCCEEDED"))
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [_row(athena_values("n1")), _row(athena_values("n1"))], "ResultSetMetadata": cols}},
        None,
    )
    con = open_db(db_path)
    with stub:
        summary = sync_athena(
            con,
            TABLE,
            client=client,
            ingester=default_ingester(workers=1),
            since=SINCE,
            until=UNTIL,
            now=UNTIL,
            sleep=lambda s: None,
        )
    assert summary.ingest["events_stored"] == 1 and summary.ingest["duplicates"] == 1
    row = con.execute(
        "SELECT caller_type, caller_account, caller_role_arn, key_arn, error_code, source_file FROM events WHERE event_id = 'n1'"
    ).fetchone()
    assert row == (
        "AssumedRole",
        ACCOUNT_B,
        f"arn:aws:iam::{ACCOUNT_B}:role/DataProcessingRole",
        "arn:aws:kms:us-east-1:111111111111:key/k1",
        "AccessDenied",
        "athena:q-4#0",
    )
    con.close()
