"""Collect first, ingest later (the usual order in an incident): policy-change events that arrive with a
later ingest must still count as history, for explain (a read-only reader) and for diagnose."""

from __future__ import annotations

import json
from pathlib import Path

from diag.resources import sample_trails_dir


def test_policy_changes_ingested_after_collect_are_history(db_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    scenario = sample_trails_dir() / "12-key-policy-overwritten"
    (event_id,) = json.loads((scenario / "expected.json").read_text())
    code, _out, err = run_cli("collect", "--from-dir", scenario / "bundle", "--db", db_path, "--quiet")
    assert code == 0, err
    code, _out, err = run_cli("ingest", scenario / "trails", "--db", db_path, "--quiet")
    assert code == 0, err

    from diag.store import open_db

    con = open_db(db_path, read_only=True)
    changes = con.execute("SELECT count(*) FROM policy_changes WHERE event_name = 'PutKeyPolicy'").fetchone()
    con.close()
    assert changes is not None and changes[0] >= 1

    code, out, err = run_cli("explain", event_id, "--db", db_path, "--json")
    assert code == 0, err
    assert json.loads(out)["verdict"] == "KEY_POLICY_OVERWRITTEN"
