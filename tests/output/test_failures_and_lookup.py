"""`kmsdiag failures` lists failed calls with full event IDs; `explain` takes a unique event-ID prefix
(ambiguous: exit 2 with the candidates); a failure fixed since says so on its first line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

RunCli = Callable[..., tuple[int, str, str]]


def _count(db: Path, sql: str, params: list[object] | None = None) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(sql, params or []).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_failures_lists_every_failure_with_its_full_event_id(demo_db: Path, run_cli: RunCli) -> None:
    total = _count(demo_db, "SELECT count(*) FROM failures")
    code, out, err = run_cli("--db", demo_db, "failures", "--json", "--limit", "1000")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["total"] == doc["shown"] == total >= 30
    ids = [f["event_id"] for f in doc["failures"]]
    assert len(set(ids)) == total
    times = [f["event_time"] for f in doc["failures"]]
    assert times == sorted(times, reverse=True), "newest first"
    code, text, _ = run_cli("--db", demo_db, "failures", "--limit", "1000")
    assert code == 0
    lines = text.splitlines()
    for f in doc["failures"]:
        assert f"  event  {f['event_id']}" in lines
        assert f["action"] in text
    assert f"{total:,} failed call(s)" in text


def test_failures_filters(demo_db: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("--db", demo_db, "failures", "--json", "--verdict", "EXPLICIT_DENY")
    doc = json.loads(out)
    assert code == 0 and doc["total"] == _count(
        demo_db, "SELECT count(*) FROM failures WHERE verdict = 'EXPLICIT_DENY'"
    )
    assert doc["total"] >= 1 and {f["verdict"] for f in doc["failures"]} == {"EXPLICIT_DENY"}

    code, out, _ = run_cli("--db", demo_db, "failures", "--json", "--caller", "dataprocessingrole")
    doc = json.loads(out)
    assert doc["total"] >= 1
    assert all("dataprocessingrole" in (f["caller_arn"] + f["caller_principal"]).lower() for f in doc["failures"])

    key = json.loads(run_cli("--db", demo_db, "failures", "--json")[1])["failures"][0]["key_ref"]
    part = key.rsplit("/", 1)[-1][:8]
    doc = json.loads(run_cli("--db", demo_db, "failures", "--json", "--key", part)[1])
    assert doc["total"] >= 1 and all(part in (f["key_ref"] or "") for f in doc["failures"])

    doc = json.loads(run_cli("--db", demo_db, "failures", "--json", "--limit", "3")[1])
    assert doc["shown"] == 3 and doc["total"] > 3

    newest = _count(demo_db, "SELECT count(*) FROM failures WHERE event_time >= TIMESTAMP '2026-11-15'")
    doc = json.loads(run_cli("--db", demo_db, "failures", "--json", "--since", "2026-11-15", "--limit", "999")[1])
    assert doc["total"] == newest

    doc = json.loads(run_cli("--db", demo_db, "failures", "--json", "--verdict", "NOT_DIAGNOSED")[1])
    assert doc["total"] == _count(demo_db, "SELECT count(*) FROM failures WHERE verdict IS NULL")

    code, _, err = run_cli("--db", demo_db, "failures", "--since", "yesterday")
    assert code == 2 and "cannot read the time" in err


def test_failures_never_creates_a_database(tmp_path: Path, run_cli: RunCli) -> None:
    missing = tmp_path / "nope.duckdb"
    code, _, err = run_cli("--db", missing, "failures")
    assert code == 1 and "no database at" in err and "kmsdiag ingest" in err
    assert not missing.exists()


def test_explain_accepts_a_unique_prefix_and_lists_an_ambiguous_one(demo_db: Path, run_cli: RunCli) -> None:
    doc = json.loads(run_cli("--db", demo_db, "failures", "--json")[1])
    full = doc["failures"][0]["event_id"]
    prefix = next(
        full[:n]
        for n in range(4, 37)
        if _count(demo_db, "SELECT count(*) FROM events WHERE starts_with(event_id, ?)", [full[:n]]) == 1
    )
    code, by_prefix, err = run_cli("--db", demo_db, "explain", prefix, "--json")
    assert code == 0, err
    code, by_id, _ = run_cli("--db", demo_db, "explain", full, "--json")
    assert json.loads(by_prefix) == json.loads(by_id)

    # a second event whose ID shares the first 8 characters: the prefix is now ambiguous
    con = duckdb.connect(str(demo_db))
    twin = full[:8] + "-0000-4000-8000-000000000000"
    con.execute("INSERT INTO events SELECT * REPLACE (? AS event_id) FROM events WHERE event_id = ?", [twin, full])
    con.close()
    code, out, err = run_cli("--db", demo_db, "explain", full[:8])
    assert code == 2 and out == ""
    assert "matches several events" in err and full in err and twin in err
    code, _, err = run_cli("--db", demo_db, "explain", "ffff0000")
    assert code == 1 and "no event" in err and "kmsdiag failures" in err


def test_already_fixed_is_the_first_line(demo_db: Path, run_cli: RunCli) -> None:
    con = duckdb.connect(str(demo_db), read_only=True)
    rows = con.execute(
        "SELECT event_id, verdict FROM failures WHERE list_contains(codes, 'RESOLVED_SINCE') ORDER BY event_id"
    ).fetchall()
    con.close()
    assert rows, "the demo has failures fixed since"
    for event_id, verdict in rows:
        code, out, err = run_cli("--db", demo_db, "explain", event_id)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("ALREADY FIXED"), lines[0]
        assert "retry the call" in lines[0]
        assert lines[1].startswith(f"verdict: {verdict}")
        doc = json.loads(run_cli("--db", demo_db, "explain", event_id, "--json")[1])
        fixed = next(f for f in doc["findings"] if f["code"] == "RESOLVED_SINCE")
        changes = fixed["evidence"].get("changes_since") or []
        if changes:
            assert changes[-1]["actor"] in lines[0] and changes[-1]["event_name"] in lines[0]
    code, out, _ = run_cli("--db", demo_db, "explain", "fe484d97-78dd-57a5-8c06-ae79d94c358d")
    if code == 0:  # the guide's walk-through: fixed at 10:30 by li.wei
        assert out.startswith("ALREADY FIXED at 2026-11-01 10:30:11 UTC by ") and "li.wei" in out.splitlines()[0]


def test_failures_names_every_caller_never_a_placeholder(demo_db: Path, run_cli: RunCli) -> None:
    """An AWS service caller (userIdentity type AWSService, no ARN) is named by its service, not '?'."""
    code, text, err = run_cli("--db", demo_db, "failures", "--limit", "1000")
    assert code == 0, err
    callers = [line for line in text.splitlines() if line.startswith("  caller ")]
    assert callers and not any(line.strip() in ("caller ?", "caller None", "caller") for line in callers)
    services = _count(demo_db, "SELECT count(*) FROM failures WHERE caller_arn IS NULL AND invoked_by IS NOT NULL")
    assert services >= 1, "the demo has a failure by an AWS service caller"
    assert sum("caller the AWS service " in line for line in callers) >= services


def test_a_bucket_failure_names_the_bucket_in_its_region_partition() -> None:
    """A failed S3 call with no key named shows the bucket's ARN in the partition of its region."""
    import io

    from rich.console import Console

    from diag.cli.cmd_failures import render_failures

    row = {
        "event_time": None,
        "verdict": None,
        "action": "s3:GetObject",
        "error_code": "AccessDenied",
        "event_id": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
        "caller_principal": "arn:aws-cn:iam::111122223333:role/Reader",
        "caller_arn": "arn:aws-cn:sts::111122223333:assumed-role/Reader/s",
        "key_ref": None,
        "bucket": "amzn-s3-demo-bucket",
        "aws_region": "cn-northwest-1",
        "cross_account": False,
    }
    buf = io.StringIO()
    render_failures(Console(file=buf, width=40, color_system=None), [row], 1)
    assert "  key    arn:aws-cn:s3:::amzn-s3-demo-bucket" in buf.getvalue().splitlines()
    buf = io.StringIO()
    render_failures(Console(file=buf, width=40, color_system=None), [{**row, "aws_region": "eu-west-1"}], 1)
    assert "  key    arn:aws:s3:::amzn-s3-demo-bucket" in buf.getvalue().splitlines()
