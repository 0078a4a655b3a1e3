"""End to end on real pieces: three sample scenarios through `kmsdiag ingest`, `collect --from-dir` and
`diagnose` (the real engine and rules), then `kmsdiag report` and the example notebook on that database."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ["01-guide-walkthrough", "12-key-policy-overwritten", "16-explicit-deny"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diag.cli.app import main

    samples = REPO / "sample_trails"
    if not all((samples / s).is_dir() for s in SCENARIOS):
        pytest.skip("sample_trails/ is not in this checkout")
    db = tmp_path_factory.mktemp("pipeline") / "demo-like.duckdb"
    assert main(["--db", str(db), "--quiet", "ingest", *[str(samples / s / "trails") for s in SCENARIOS]]) == 0
    for s in SCENARIOS:
        assert main(["--db", str(db), "--quiet", "collect", "--from-dir", str(samples / s / "bundle")]) == 0
    assert main(["--db", str(db), "--quiet", "diagnose"]) == 0
    return db


def test_report_mirrors_the_diagnoses(
    pipeline_db: Path, run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    db = tmp_path / "db.duckdb"
    shutil.copyfile(pipeline_db, db)
    code, out, err = run_cli("--db", db, "report", "--since", "all", "--json", "--no-record")
    assert code == 0, err
    report = json.loads(out)
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT coalesce(verdict, 'NOT_DIAGNOSED') FROM failures").fetchall()
        snapshots = con.execute("SELECT max(collected_at) FROM snapshots").fetchall()[0][0]
    finally:
        con.close()
    assert report["headline"]["failures"] == len(rows) > 0
    assert {v["verdict"]: v["failures"] for v in report["by_verdict"]} == dict(Counter(r[0] for r in rows))
    assert report["headline"]["not_diagnosed"] == 0
    assert report["data_quality"]["collection_gaps"] is not None
    assert report["data_quality"]["policies_collected_at"] == snapshots.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the real fixes reach the report: commands as lists of strings, policies as JSON
    fixes = [f["fix"] for c in report["causes"] for f in c["findings"] if f.get("fix")]
    assert fixes and all(isinstance(f.get("commands", []), list) for f in fixes)
    # the key policy change of scenario 12 is in the policy changes of the window
    assert any(p["event_name"] == "PutKeyPolicy" for p in report["policy_changes"])
    code, _, err = run_cli("--db", db, "report", "--since", "all", "-o", tmp_path / "r.html")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    for verdict in {r[0] for r in rows}:
        assert verdict in html


def test_notebook_on_the_pipeline_database(pipeline_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    db = tmp_path / "db.duckdb"
    shutil.copyfile(pipeline_db, db)
    monkeypatch.setenv("KMSDIAG_DEMO_DB", str(db))
    notebook = nbformat.read(REPO / "examples" / "explore.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO / "examples")}}
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
