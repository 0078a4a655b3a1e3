"""The command line of the remote sources: `kmsdiag ingest s3://…`, `athena-ddl`, `watch` usage errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.remote.conftest import ACCOUNT_A, BUCKET, ORG, TrailBucket

Run = Callable[..., tuple[int, str, str]]


def test_ingest_s3_uri_json_summary_and_rerun(trail_bucket: TrailBucket, db_path: Path, run_cli: Run) -> None:
    code, out, err = run_cli(
        "ingest",
        f"s3://{BUCKET}",
        "--account",
        ACCOUNT_A,
        "--since",
        "2026-11-03",
        "--until",
        "2026-11-04",
        "--db",
        db_path,
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    (s3,) = doc["sources"]
    # A's two regions, days 03 and 04 (04 only for late deliveries): 12:05 on 03 plus the corrupt 18:00 file
    assert s3["source"] == "s3" and s3["objects_fetched"] == 3 and s3["prefixes_listed"] == 4
    assert s3["ingest"]["files_refused"] == 1 and s3["ingest"]["events_stored"] == 6
    code, out, _ = run_cli(
        "ingest",
        f"s3://{BUCKET}",
        "--account",
        ACCOUNT_A,
        "--since",
        "2026-11-03",
        "--until",
        "2026-11-04",
        "--db",
        db_path,
        "--json",
    )
    assert code == 0 and json.loads(out)["sources"][0]["objects_fetched"] == 0
    code, out, _ = run_cli(
        "ingest",
        f"s3://{BUCKET}",
        "--account",
        ACCOUNT_A,
        "--since",
        "2026-11-03",
        "--until",
        "2026-11-04",
        "--db",
        db_path,
    )
    assert code == 0 and "0 fetched" in out and "already ingested" in out


def test_ingest_usage_errors(db_path: Path, run_cli: Run, tmp_path: Path) -> None:
    code, _, err = run_cli("ingest", "--db", db_path)
    assert code == 2 and "nothing to ingest" in err
    code, _, err = run_cli("ingest", str(tmp_path), "s3://b", "--db", db_path)
    assert code == 2 and "separate runs" in err
    code, _, err = run_cli("ingest", str(tmp_path), "--since", "7d", "--db", db_path)
    assert code == 2 and "apply to s3://" in err
    code, _, err = run_cli("ingest", "s3://b", "--since", "yesterday-ish", "--db", db_path)
    assert code == 2 and "cannot read the time" in err


def test_ingest_s3_missing_bucket_is_not_found(moto: str, db_path: Path, run_cli: Run) -> None:
    code, _, err = run_cli("ingest", "s3://no-such-bucket", "--db", db_path)
    assert code == 1 and "no such bucket" in err


def test_athena_ddl_prints_the_statement(run_cli: Run) -> None:
    code, out, _ = run_cli(
        "athena-ddl",
        "s3://org-trail-logs",
        "--org-id",
        ORG,
        "--account",
        ACCOUNT_A,
        "--region",
        "us-east-1",
        "--table",
        "security.ct",
    )
    assert code == 0
    assert out.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `security`.`ct`")
    assert f"AWSLogs/{ORG}/${{p_account}}/CloudTrail/${{p_region}}/${{p_date}}" in out
    code, out, _ = run_cli("athena-ddl", "s3://b", "--json")
    assert code == 0 and "injected" in json.loads(out)["ddl"]
    code, _, err = run_cli("athena-ddl", "s3://b", "--org-id", "nope")
    assert code == 2 and "organization ID" in err


def test_watch_usage(run_cli: Run, db_path: Path) -> None:
    code, _, err = run_cli("watch", "--db", db_path)
    assert code == 2 and "nothing to watch" in err
    code, _, err = run_cli("watch", "./local", "--db", db_path)
    assert code == 2 and "s3://" in err
    code, _, err = run_cli("watch", "s3://b", "--interval", "soon", "--db", db_path)
    assert code == 2 and "duration" in err
    code, out, _ = run_cli("watch", "--help")
    assert code == 0 and "Example:" in out


def test_exit_codes_when_aws_refuses_everything() -> None:
    from diag.cli.cmd_ingest import exit_code

    denied = {
        "source": "s3",
        "objects_fetched": 0,
        "fetch_errors": [{"path": "s3://b/k", "error": "AccessDenied: kms"}],
    }
    assert exit_code([denied]) == 4
    assert exit_code([{**denied, "objects_fetched": 3}]) == 0  # partial: reported, not fatal
    assert exit_code([{"source": "lookup", "queries": 2, "gaps": [{}, {}]}]) == 4
    assert exit_code([{"source": "lookup", "queries": 3, "gaps": [{}]}]) == 0
    assert exit_code([{"source": "s3", "ingest": {"files_seen": 2, "files_refused": 2}}]) == 3
