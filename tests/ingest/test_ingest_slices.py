"""diag.ingest.commit: transactions of exactly ROWS_PER_COMMIT new rows, cut inside inputs when needed.

An input cut by a transaction boundary is recorded as `partial` with its counts so far; the transaction
storing its last row gives it its final status. A run stopped between the two leaves a `partial` row that
the next run completes, with the same final database as one uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from diag.ingest import IngestSummary, ingest_paths
from diag.ingest import commit as commit_mod
from diag.ingest import scheduler as load_mod
from diag.ingest.commit import _commit, _plan, _Spill, _Unit, units_of
from diag.ingest.sources.files import discover
from diag.ingest.worker import FileResult, Task, run_task
from diag.store import open_db
from tests.ingest.ctdata import kms_record, noise_record, write_trail


def _when(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * minute)


def _files(con: Any) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT path, status, records_total, records_kept, records_duplicate, records_skipped"
        " FROM ingested_files ORDER BY path"
    ).fetchall()


def _events(con: Any) -> list[tuple[Any, ...]]:
    return con.execute("SELECT event_id, source_file FROM events ORDER BY event_id").fetchall()


def _trails(root: Path) -> list[dict[str, Any]]:
    """Three files of 5, 4 and 6 kept records (13 distinct) with noise, a duplicate inside a file and one across files."""
    a, b = kms_record(), kms_record()
    write_trail(root, [a, kms_record(), noise_record(), a, kms_record(), b], when=_when(0))
    write_trail(root, [kms_record(), b, noise_record(), kms_record(), kms_record()], when=_when(1))
    write_trail(root, [kms_record() for _ in range(6)], when=_when(2))
    return [a, b]


@pytest.mark.parametrize("rows_per_commit", [1, 2, 3, 7, 1000])
def test_any_slice_size_gives_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows_per_commit: int
) -> None:
    root = tmp_path / "trails"
    _trails(root)
    ref = open_db(tmp_path / "ref.duckdb")
    ref_summary = ingest_paths(ref, [root], workers=1)
    monkeypatch.setattr(commit_mod, "ROWS_PER_COMMIT", rows_per_commit)
    monkeypatch.setattr(load_mod, "FILES_PER_TASK", 1)
    con = open_db(tmp_path / "sliced.duckdb")
    summary = ingest_paths(con, [root], workers=1)
    assert (summary.events_stored, summary.duplicates) == (ref_summary.events_stored, ref_summary.duplicates)
    assert (summary.events_stored, summary.duplicates) == (13, 2)
    assert _files(con) == _files(ref)
    assert _events(con) == _events(ref)
    assert all(status == "ok" for _, status, *_ in _files(con))


def _task_units(root: Path, spill: Path) -> list[_Unit]:
    blobs, _ = discover([root])
    result = run_task(Task([(b.name, b.path or "") for b in blobs], str(spill)))
    return units_of(blobs, result)


def test_a_run_stopped_after_a_cut_leaves_partial_and_the_next_run_completes_it(tmp_path: Path) -> None:
    root = tmp_path / "trails"
    _trails(root)
    ref = open_db(tmp_path / "ref.duckdb")
    ingest_paths(ref, [root], workers=1)

    con = open_db(tmp_path / "stopped.duckdb")
    units = _task_units(root, tmp_path / "spill.jsonl")
    plan = _commit(con, units, 6, IngestSummary())  # 6 new rows: file 1 (5 lines, 4 new), 3 lines of file 2
    assert plan is not None and plan.new == 6 and plan.partial is units[1] and plan.cut == units[1].first + 3
    first, second = units[0].blob.name, units[1].blob.name
    assert _files(con) == [(first, "ok", 6, 4, 1, 1), (second, "partial", 5, 2, 1, 1)]
    counts = con.execute("SELECT source_file, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [(first, 4), (second, 2)]  # records_kept always equals the rows stored under the name

    rerun = ingest_paths(con, [root], workers=1)  # the partial input is read again; the first is unchanged
    assert (rerun.files_unchanged, rerun.files_ingested) == (1, 2)
    assert rerun.events_stored == 13 - 6
    assert _files(con) == _files(ref)
    assert _events(con) == _events(ref)


def _unit(name: str, spill: _Spill, first: int, start: int, end: int) -> _Unit:
    return _Unit(
        blob=commit_mod.Blob(name),
        result=FileResult(name, "ok", records_total=end - first),
        spill=spill,
        first=first,
        start=start,
        end=end,
    )


def test_plan_tells_own_earlier_rows_from_repeats() -> None:
    spill = _Spill("s", ["a", "b", "a", "c", "d"])
    # Nothing of U stored by this run yet (first == start): its rows stored under its own name come from an
    # interrupted run and are kept; the second "a" repeats the first inside the file: a duplicate.
    fresh = _unit("U", spill, 0, 0, 5)
    plan = _plan([fresh], {"a": "U", "b": "U", "d": "V"}, None)
    assert plan is not None
    assert (plan.new, plan.credit[id(fresh)], plan.dups[id(fresh)]) == (1, 2, 2)
    assert sorted(plan.exclude_lines) == [0, 1, 2, 4]
    # U was cut after line 1 by this run: "a" (line 2) is stored under U because line 0 was: a repeat.
    cut = _unit("U", spill, 0, 2, 5)
    plan = _plan([cut], {"a": "U", "b": "U"}, None)
    assert plan is not None
    assert (plan.new, plan.credit.get(id(cut), 0), plan.dups[id(cut)]) == (2, 0, 1)
    assert plan.ranges == {"s": [2, 5]}


def test_plan_waits_for_a_whole_slice_of_new_rows() -> None:
    spill = _Spill("s", ["a", "b", "c", "d"])
    units = [_unit("U", spill, 0, 0, 2), _unit("V", spill, 2, 2, 4)]
    assert _plan(units, {"c": "W"}, 4) is None  # only 3 new rows: wait for more input
    plan = _plan(units, {}, 3)
    assert plan is not None and plan.done == [units[0]] and plan.partial is units[1] and plan.cut == 3
    assert plan.ranges == {"s": [0, 3]}


def test_a_dead_worker_is_reported_and_a_rerun_completes(tmp_path: Path) -> None:
    from diag.ingest.pool import Pool, WorkerError

    with pytest.raises(WorkerError) as caught, Pool(2) as pool:
        pool.procs[0].kill()  # as the kernel's OOM killer would
        pool.procs[0].wait()
        root = tmp_path / "trails"
        _trails(root)
        blobs, _ = discover([root])
        tasks = [(b, Task([(b.name, b.path or "")], str(tmp_path / f"s{i}.jsonl"))) for i, b in enumerate(blobs)]
        list(pool.map(iter(tasks), window=4))
    assert caught.value.exit_code == 70 and "run the same ingest again" in (caught.value.hint or "")
    assert "--workers 1" in (caught.value.hint or "")


def test_cli_reports_a_dead_worker_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    from diag.ingest.pool import WorkerError

    root = tmp_path / "trails"
    _trails(root)
    monkeypatch.setattr(commit_mod, "ROWS_PER_COMMIT", 2)
    monkeypatch.setattr(load_mod, "FILES_PER_TASK", 1)
    real = load_mod._results

    def dies_after_two(*args: Any) -> Any:
        for n, item in enumerate(real(*args)):
            if n == 2:
                raise WorkerError(-9)
            yield item

    monkeypatch.setattr(load_mod, "_results", dies_after_two)
    db = tmp_path / "w.duckdb"
    code, _out, err = run_cli("--db", db, "ingest", root, "--workers", "1")
    text = " ".join(err.split())
    assert code == 70 and "stopped unexpectedly (exit code -9)" in text and "run the same ingest again" in text
    monkeypatch.setattr(load_mod, "_results", real)
    ref = open_db(tmp_path / "ref.duckdb")
    ingest_paths(ref, [root], workers=1)
    code, _out, err = run_cli("--db", db, "ingest", root, "--workers", "1")
    assert code == 0, err
    con = open_db(db)
    assert _files(con) == _files(ref) and _events(con) == _events(ref)


def test_evidence_bundles_in_a_folder_are_skipped_and_listed(tmp_path: Path, run_cli: Any) -> None:
    import json

    root = tmp_path / "case"
    _trails(root / "trails")
    bundle = root / "bundle"
    (bundle / "111111111111" / "kms" / "us-east-1").mkdir(parents=True)
    (bundle / "manifest.json").write_text('{"collected_at": "2026-11-28T12:00:00Z"}')
    (bundle / "111111111111" / "kms" / "us-east-1" / "list-aliases.json").write_text('{"Aliases": []}')
    not_a_bundle = root / "other"
    not_a_bundle.mkdir()
    (not_a_bundle / "manifest.json").write_text('{"name": "something else"}')  # read, and refused as not CloudTrail
    code, out, err = run_cli("--db", tmp_path / "b.duckdb", "--json", "ingest", root, "--workers", "1")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["bundles_skipped"] == [str(bundle.resolve())]
    assert [r["file"] for r in summary["refused"]] == [str((not_a_bundle / "manifest.json").resolve())]
    assert summary["events_stored"] == 13
    code, out, err = run_cli("--db", tmp_path / "b.duckdb", "ingest", root, "--workers", "1")
    assert code == 0 and "skipped 1 evidence bundle folder" in " ".join(out.split())
