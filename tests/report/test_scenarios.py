"""The report over the sample scenarios (sample_trails/): real-shaped CloudTrail through `kmsdiag ingest`,
with diagnoses rows written from each scenario's expected.json (the labels a correct diagnosis produces).

Checks the `failures` view against the labels (every labelled call counted exactly once, cross-account
copies folded), the report's counts and grouping, and new vs resolved across two recorded runs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from diag.report import render
from diag.report.build import build_report, record_run
from diag.report.window import Window
from diag.store import open_db

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_trails"


# Labelled calls that are not failures the report counts: an error that no policy decides
# (NoSuchLifecycleConfiguration) and a call to another service (sts); `explain` still answers for them.
NOT_REPORTED = {"NOT_ACCESS_FAILURE", "OTHER_SERVICE"}


def _labels() -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = {}
    for path in sorted(SAMPLES.glob("*/expected.json")):
        for event_id, label in json.loads(path.read_text()).items():
            if label["verdict"] not in NOT_REPORTED:
                labels[event_id] = {**label, "scenario": path.parent.name}
    return labels


@pytest.fixture(scope="session")
def _scenarios_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("sample_trails/ is not in this checkout")
    from diag.cli.app import main

    path = tmp_path_factory.mktemp("scenarios") / "scenarios.duckdb"
    trails = sorted(str(p) for p in SAMPLES.glob("*/trails"))
    assert main(["--db", str(path), "--quiet", "ingest", *trails]) == 0
    con = open_db(path)
    at = dt.datetime(2026, 11, 28, 12, 0, 0)
    for event_id, label in _labels().items():
        findings = [
            {
                "code": code,
                "layer": "key_policy",
                "account": None,
                "summary": f"{code} ({label['scenario']})",
                "evidence": {"scenario": label["scenario"]},
                "fix": {"summary": f"see sample_trails/{label['scenario']}/README.md", "policy": None, "commands": []},
            }
            for code in label["codes"]
        ]
        con.execute(
            "INSERT INTO diagnoses (event_id, verdict, codes, findings, engine_version, diagnosed_at)"
            " VALUES (?, ?, ?, ?, 'labels', ?)",
            [event_id, label["verdict"], label["codes"], json.dumps(findings), at],
        )
    con.execute("CHECKPOINT")
    con.close()
    return path


@pytest.fixture
def scenarios_con(_scenarios_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "s.duckdb"
    shutil.copyfile(_scenarios_template, path)
    con = open_db(path)
    yield con
    con.close()


def _calls(con: duckdb.DuckDBPyConnection, labels: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Labelled event → the call it belongs to (its sharedEventID, else itself)."""
    rows = con.execute(
        "SELECT event_id, coalesce(shared_event_id, event_id) FROM events WHERE event_id IN (SELECT unnest(?))",
        [list(labels)],
    ).fetchall()
    return dict(rows)


def test_every_labelled_call_is_one_failure(scenarios_con: duckdb.DuckDBPyConnection) -> None:
    labels = _labels()
    calls = _calls(scenarios_con, labels)
    assert set(calls) == set(labels), "a labelled event was not ingested"
    rows = scenarios_con.execute("SELECT event_id, coalesce(shared_event_id, event_id) FROM failures").fetchall()
    failure_calls = Counter(call for _, call in rows)
    assert max(failure_calls.values()) == 1, "a call is counted twice"
    assert set(calls.values()) <= set(failure_calls), "a labelled call is missing from the failures view"


def test_report_counts_and_grouping_match_the_labels(scenarios_con: duckdb.DuckDBPyConnection) -> None:
    labels = _labels()
    calls = _calls(scenarios_con, labels)
    one_label_per_call = {calls[e]: label["verdict"] for e, label in labels.items()}
    window = Window(dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1), "all")
    report = build_report(scenarios_con, window, generated_at=dt.datetime(2026, 11, 28, 12))
    total = scenarios_con.execute("SELECT count(*) FROM failures").fetchall()[0][0]
    h = report.headline
    assert h.failures == total
    assert h.not_diagnosed == total - len(one_label_per_call)
    by_verdict = {v["verdict"]: v["failures"] for v in report.by_verdict}
    expected = Counter(one_label_per_call.values())
    for verdict, count in expected.items():
        assert by_verdict[verdict] == count, verdict
    # every cause is one (verdict, caller, key, action); their failures add up
    assert sum(c.failures for c in report.causes) == total
    assert len({(c.verdict, c.caller, c.key_ref, c.action) for c in report.causes}) == len(report.causes)
    assert {c.verdict for c in report.causes} >= set(expected)
    # scenarios use their own accounts: many accounts, and the walk-through pair is there
    assert {"111111111111", "222222222222"} <= {a.account for a in report.accounts}
    html = render(report, "html")
    for verdict in expected:
        assert verdict in html
    assert "PutKeyPolicy" in html  # the policy history of the stories (e.g. 12-key-policy-overwritten)


def test_new_and_resolved_across_two_runs_on_the_scenarios(scenarios_con: duckdb.DuckDBPyConnection) -> None:
    con = scenarios_con
    rows = con.execute(
        "SELECT event_time, coalesce(verdict, 'NOT_DIAGNOSED'), caller_principal, key_ref, action FROM failures"
    ).fetchall()
    times = sorted(r[0] for r in rows)
    mid = times[len(times) // 2]
    start, end = times[0], times[-1] + dt.timedelta(seconds=1)
    first = build_report(con, Window(start, mid, "first"), generated_at=mid)
    record_run(con, first, fmt="json", out_path="-")
    second = build_report(con, Window(mid, end, "second"), generated_at=end)

    def causes(lo: dt.datetime, hi: dt.datetime) -> set[tuple[Any, ...]]:
        return {r[1:] for r in rows if lo <= r[0] < hi and r[1] != "NOT_DIAGNOSED"}

    before, after = causes(start, mid), causes(mid, end)
    got_new = {(c.verdict, c.caller, c.key_ref, c.action) for c in second.causes if c.status == "new"}
    got_resolved = {(c.verdict, c.caller, c.key_ref, c.action) for c in second.resolved_causes}
    assert got_new == after - before and got_new
    assert got_resolved == before - after and got_resolved
    assert second.headline.new_causes == len(after - before)
    assert second.headline.resolved_causes == len(before - after)
