"""`kmsdiag demo`: a fresh database from sample_trails/, every failure diagnosed, examples explained;
it never overwrites a file that an earlier demo did not create."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.diagnosis.demo import scenarios

pytestmark = pytest.mark.skipif(not scenarios(), reason="sample_trails/ has no scenarios on this checkout")


def test_demo_json_and_rerun(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "demo.duckdb"
    code, out, err = run_cli("demo", "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    dx = doc["diagnosis"]
    assert len(doc["scenarios"]) == len(scenarios()) == doc["snapshots"] and dx["failures"] >= len(scenarios())
    assert sum(dx["by_verdict"].values()) == dx["failures"]
    assert "UNKNOWN" in dx["by_verdict"] and len(dx["by_verdict"]) >= 20
    assert doc["examples"] and all(e["event_id"] for e in doc["examples"])
    code, out, err = run_cli("explain", doc["examples"][0]["event_id"], "--db", db)
    assert code == 0 and doc["examples"][0]["verdict"] in out


def test_demo_refuses_to_overwrite_another_file(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "precious.duckdb"
    other.write_bytes(b"not a demo")
    code, _out, err = run_cli("demo", "--db", other)
    assert code == 2 and "not a kmsdiag demo database" in err
    assert other.read_bytes() == b"not a demo"
