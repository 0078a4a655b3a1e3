"""`kmsdiag nightly` exits 3 when every input was refused (the report is still written), 0 otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diag.nightly import all_inputs_refused


def test_every_input_refused_exits_3_and_still_reports(tmp_path: Path, run_cli: Any) -> None:
    bad = tmp_path / "wrong-folder"
    bad.mkdir()
    (bad / "a.json").write_text('{"Records": [{"eventID": "x",')
    (bad / "b.json").write_text('{"not": "cloudtrail"}')
    out = tmp_path / "r.json"
    code, stdout, err = run_cli("--db", tmp_path / "n.duckdb", "--json", "nightly", bad, "--no-collect", "--out", out)
    assert code == 3, err
    summary = json.loads(stdout)
    assert summary["ingest"]["local"]["files_refused"] == 2 and out.is_file()
    code, _o, err = run_cli("--db", tmp_path / "n.duckdb", "nightly", bad, "--no-collect")
    assert code == 3 and "every input was refused" in " ".join(err.split())


def test_some_refused_or_none_given_is_not_a_failure() -> None:
    assert not all_inputs_refused({"ingest": {}})
    assert not all_inputs_refused({"ingest": {"local": {"files_seen": 3, "files_refused": 1}}})
    assert all_inputs_refused({"ingest": {"local": {"files_seen": 2, "files_refused": 2}}})
    remote = {"ingest": {"remote": [{"ingest": {"files_seen": 1, "files_refused": 1}}, {"ingest": {"files_seen": 0}}]}}
    assert all_inputs_refused(remote)
    remote["ingest"]["local"] = {"files_seen": 4, "files_refused": 0}
    assert not all_inputs_refused(remote)
