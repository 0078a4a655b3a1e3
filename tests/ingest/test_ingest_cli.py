"""`kmsdiag ingest` and `kmsdiag demo`: summaries, --json, exit codes, escaping."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.ingest.ctdata import kms_record, noise_record, write_trail

SAMPLE = Path(__file__).resolve().parent / "data" / "sample_trails"
RunCli = Callable[..., tuple[int, str, str]]


def test_ingest_summary_and_json(tmp_path: Path, db_path: Path, run_cli: RunCli) -> None:
    root = tmp_path / "trails"
    write_trail(root, [kms_record(), kms_record(error="AccessDenied"), noise_record()])
    (root / "broken.json").write_text('{"Records": [')
    code, out, err = run_cli("ingest", "--db", db_path, root)
    assert code == 0, err
    assert "files: 2 seen, 1 ingested, 0 unchanged (already ingested), 0 digest, 1 refused" in out
    assert "events: 3 read, 2 stored, 1 skipped (other services), 0 duplicates" in out
    assert "refused: " in out and "broken.json: invalid JSON" in out
    code, out, err = run_cli("ingest", "--db", db_path, "--json", root)
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["files_unchanged"] == 1 and summary["files_refused"] == 1 and summary["events_stored"] == 0
    assert summary["refused"][0]["file"].endswith("broken.json")
    assert summary["refused"][0]["reason"].startswith("invalid JSON")


def test_exit_code_3_only_when_every_input_is_bad(tmp_path: Path, db_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    code, out, _ = run_cli("--json", "ingest", "--db", db_path, bad, tmp_path / "nope.json")
    assert code == 3 and json.loads(out)["files_refused"] == 2
    good = tmp_path / "good.json"
    good.write_text(json.dumps(kms_record()))
    code, _, _ = run_cli("ingest", "--db", db_path, bad, good)
    assert code == 0


def test_names_and_reasons_are_escaped(tmp_path: Path, db_path: Path, run_cli: RunCli) -> None:
    hostile = tmp_path / "[bold red]x[reverse] \x1b[31mred\x1b[0m.json"
    # Valid JSON, not CloudTrail: the refusal reason quotes the (attacker-chosen) key, ESC and BEL included.
    hostile.write_text('{"[link=http://evil]click[/link]\\u001b]8;;http://evil\\u0007": 1}')
    code, out, _ = run_cli("ingest", "--db", db_path, hostile)
    assert code == 3
    assert "\x1b" not in out
    assert "[bold red]x[reverse]" in out  # printed literally, not interpreted as markup
    assert "[link=http://evil]click[/link]" in out and "not CloudTrail" in out
    assert "\x07" not in out


def test_ingest_help_has_an_example(run_cli: RunCli) -> None:
    code, out, _ = run_cli("ingest", "--help")
    assert code == 0 and "Example:" in out


def test_demo_runs_and_reports_what_it_stored(tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    import diag.resources

    monkeypatch.setattr(diag.resources, "sample_trails_dir", lambda: SAMPLE)
    db = tmp_path / "demo.duckdb"
    code, out, err = run_cli("demo", "--db", db)
    assert code == 0, err
    assert "2 scenario(s)" in out
    assert "events: 9 read, 5 stored, 3 skipped (other services), 1 duplicates" in out
    assert "1 cross-account" in out and "AccessDenied" in out
    # Running it again replaces the demo database (same result, nothing doubled).
    code, out2, _ = run_cli("--json", "demo", "--db", db)
    result = json.loads(out2)
    assert code == 0 and result["ingest"]["events_stored"] == 5 and result["cross_account_calls"] == 1
    assert result["scenarios"] == ["alias-and-policy-change", "guide-walkthrough"]
    assert [f["error_code"] for f in result["failures"]] == ["AccessDenied"]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (5,)
    con.close()


def test_demo_default_path_and_refuses_to_overwrite_another_database(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diag.resources
    from diag.store import open_db

    monkeypatch.setattr(diag.resources, "sample_trails_dir", lambda: SAMPLE)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("demo", "--quiet")
    assert code == 0, err
    assert (tmp_path / "kmsdiag-demo.duckdb").exists()
    real = tmp_path / "kmsdiag.duckdb"
    open_db(real).close()
    code, _, err = run_cli("demo", "--db", real)
    assert code == 2 and "not a kmsdiag demo database" in err
    assert real.exists()


def test_demo_with_the_bundled_sample_trails(tmp_path: Path, run_cli: RunCli) -> None:
    from diag.resources import sample_trails_dir

    try:
        root = sample_trails_dir()
    except FileNotFoundError:
        pytest.skip("sample_trails/ is not in this checkout yet")
    if not any((p / "trails").is_dir() for p in root.iterdir()):
        pytest.skip("sample_trails/ has no scenario with trails/ yet")
    code, out, err = run_cli("--json", "demo", "--db", tmp_path / "demo.duckdb")
    assert code == 0, err
    assert json.loads(out)["ingest"]["events_stored"] > 0
