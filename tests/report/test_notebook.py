"""Notebook helpers return DataFrames; examples/explore.ipynb runs end to end on a demo-like database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import diag
import diag.notebook as nb
from tests.report.factory import KEY_A, NOW, ROLE, Expected

REPO = Path(__file__).resolve().parents[2]


def test_helpers_answer_the_five_questions(walkthrough_db: tuple[Path, Expected]) -> None:
    db, exp = walkthrough_db
    con = diag.open(str(db), read_only=True)
    try:
        keys = nb.top_keys(con)
        assert keys.iloc[0].key_ref == KEY_A and keys.iloc[0].failures == 55
        callers = nb.top_callers(con)
        assert callers.iloc[0].caller_principal == ROLE
        assert callers.iloc[0].failing_since == NOW - dt.timedelta(hours=20)
        causes = nb.causes(con)
        assert len(causes) == exp.causes and causes.failures.sum() == exp.failures
        fixes = nb.fixes(con)
        assert fixes.iloc[0].failures_removed == 41 and fixes.iloc[0].verdict == "KEY_POLICY_PRINCIPAL_TYPO"
        assert fixes.failures_removed.sum() == exp.failures - exp.not_diagnosed
        spikes = nb.spikes(con, freq="hour", top=1)
        before = nb.changes_before(con, spikes.bucket.iloc[0], hours=24)
        assert "PutKeyPolicy" in set(before.event_name)
        assert (
            nb.failures(con, since=NOW - dt.timedelta(hours=2)).shape[0]
            == nb.failures(con, since="2026-11-29T04:00:00Z").shape[0]
        )
        assert set(nb.failures(con, verdict="NOT_DIAGNOSED").verdict.isna()) == {True}
        wide = nb.failures_over_time(con, freq="day")
        assert int(wide.to_numpy().sum()) == exp.failures
        assert len(nb.policy_timeline(con, target="AppRole")) == 1
        assert nb.report_runs(con).empty
    finally:
        con.close()


def test_helpers_reject_bad_frequencies(walkthrough_db: tuple[Path, Expected]) -> None:
    con = diag.open(str(walkthrough_db[0]), read_only=True)
    try:
        with pytest.raises(ValueError):
            nb.failures_over_time(con, freq="minute")
    finally:
        con.close()


def test_example_notebook_runs_end_to_end(
    walkthrough_db: tuple[Path, Expected], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("KMSDIAG_DEMO_DB", str(walkthrough_db[0]))
    notebook = nbformat.read(REPO / "examples" / "explore.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO / "examples")}}
    )
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "removes 41 failures" in text and "Policy changes in the 48 hours before the spike" in text
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "arn:aws:kms:us-east-1:111111111111:key/1234abcd" in html and "PutKeyPolicy" in html
    assert any("image/png" in o.get("data", {}) for o in outputs), "the chart was not plotted"
