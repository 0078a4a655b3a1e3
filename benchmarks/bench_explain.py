"""`kmsdiag explain` latency on a large database, against the floor `python -c "import duckdb"`.

Builds (once; reused when --db exists) a database of --events synthetic events (0.5 % failures, see
_corpus.py) plus the evidence bundle, then times whole processes, interleaved so that both see the same
machine load: `python -c "import duckdb"`, `python -m diag explain <eventID> --json`, the same by requestID,
and the rich output. Prints one JSON line with medians and ratios to the floor (wall time, and CPU time, which
other processes on a busy machine disturb less), and the in-process split of
one explain (``in_process``): the diagnosis without the blast radius, the blast radius alone (the fixes'
added access over every collected principal), and the database queries each issues. The build ends with
``build_policy_changes``, which also builds the per-key usage summary (``key_usage``) as ingest does; a
database built by an older kmsdiag gets it by ``refresh_key_usage`` after opening it read-write once.

Before timing, kmsdiag's modules are byte-compiled (``compileall``, as ``pip install`` does for an installed
package): duckdb, the floor, is imported from its compiled ``.pyc`` files, and with
``PYTHONDONTWRITEBYTECODE=1`` in the environment a source checkout would otherwise recompile all of kmsdiag in
every run (about 0.1 s). ``--no-compile`` measures that worst case. Usage:

    python benchmarks/bench_explain.py [--events 1000000] [--runs 5] [--db /tmp/bench-explain.duckdb] [--no-compile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def build(db: Path, events: int) -> float:
    import _corpus

    from diag.collect.bundle import read_bundle
    from diag.collect.history import build_policy_changes
    from diag.collect.snapshot import load_bundle
    from diag.store import open_db

    t0 = time.perf_counter()
    con = open_db(db)
    load_bundle(con, read_bundle(_corpus.write_bundle(Path(tempfile.mkdtemp(prefix="bench-bundle-")))))
    _corpus.insert_events(con, total=events, failures=max(1, events // 200))
    build_policy_changes(con)
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - t0


def wall(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the child's every thread) of one whole process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process(db: Path, event_id: str, runs: int) -> dict[str, object]:
    """Median seconds and query counts of ``explain_id`` in this process, without and with the blast radius."""
    from diag.explain import explain_id
    from diag.proof.blast import blast_for_source
    from diag.store import open_db

    class Counting:
        def __init__(self, con: Any) -> None:
            self.con, self.queries = con, 0

        def execute(self, *args: Any) -> Any:
            self.queries += 1
            return self.con.execute(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.con, name)

    out: dict[str, object] = {}
    for name, blast in (("diagnosis", None), ("diagnosis_and_blast_radius", blast_for_source)):
        secs, queries = [], 0
        for _ in range(runs + 1):  # the first run warms imports and caches
            con = Counting(open_db(db, read_only=True))
            t0 = time.perf_counter()
            explain_id(con, event_id, blast_radius=blast)  # type: ignore[arg-type]  # counts the queries
            secs.append(time.perf_counter() - t0)
            queries = con.queries
            con.close()
        out[name] = {"median_seconds": round(statistics.median(secs[1:]), 3), "queries": queries}
    return out


def pick_event(db: Path) -> tuple[int, str, str]:
    """(events in the database, the eventID and requestID of its middle AccessDenied event)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        (n_events,) = con.execute("SELECT count(*) FROM events").fetchone()  # type: ignore[misc]
        event_id, request_id = con.execute(
            "SELECT event_id, request_id FROM events WHERE error_code = 'AccessDenied' ORDER BY event_id"
            " LIMIT 1 OFFSET (SELECT count(*) // 2 FROM events WHERE error_code = 'AccessDenied')"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    return int(n_events), str(event_id), str(request_id)


def ratios(medians: dict[str, float], floor: str = "import_duckdb") -> dict[str, float]:
    """Each median over the floor's, in the same run."""
    return {k: round(v / medians[floor], 2) for k, v in medians.items() if k != floor}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench-explain.duckdb")
    ap.add_argument("--no-compile", action="store_true", help="do not byte-compile kmsdiag before timing")
    args = ap.parse_args()
    if not args.no_compile:
        import compileall

        compileall.compile_dir(REPO / "diag", quiet=1)
    built = None
    if not args.db.exists():
        built = build(args.db, args.events)
    n_events, event_id, request_id = pick_event(args.db)
    py = sys.executable
    cmds = {
        "import_duckdb": [py, "-c", "import duckdb"],
        "explain_json": [py, "-m", "diag", "explain", event_id, "--db", str(args.db), "--json"],
        "explain_request_id_json": [py, "-m", "diag", "explain", request_id, "--db", str(args.db), "--json"],
        "explain_rich": [py, "-m", "diag", "explain", event_id, "--db", str(args.db)],
    }
    for cmd in cmds.values():  # warm the page cache and .pyc files
        wall(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            elapsed, used = wall(cmd)
            times[name].append(elapsed)
            cpu[name].append(used)
    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    cpu_med = {k: round(statistics.median(v), 3) for k, v in cpu.items()}
    print(
        json.dumps(
            {
                "events": n_events,
                "runs": args.runs,
                "median_seconds": med,
                "ratio_to_import_duckdb": ratios(med),
                # CPU time (user + system) is less disturbed by other processes on a busy machine than wall time
                "cpu_median_seconds": cpu_med,
                "cpu_ratio_to_import_duckdb": {
                    k: round(v / cpu_med["import_duckdb"], 2) for k, v in cpu_med.items() if k != "import_duckdb"
                },
                "in_process": in_process(args.db, event_id, args.runs),
                "byte_compiled": not args.no_compile,
                "build_seconds": round(built, 1) if built else None,
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
