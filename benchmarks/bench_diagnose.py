"""Diagnoses per second on a corpus with 100,000 failed KMS calls (DESIGN.md section 10).

Builds a fresh database (bundle + generated events, see _corpus.py), then times `diagnose_pending` (the
library call behind `kmsdiag diagnose`): decision keys computed in SQL, one pipeline run per key, results
joined back to every event. Prints one JSON line. Usage:

    python benchmarks/bench_diagnose.py [--failures 100000] [--noise 100000] [--db /tmp/bench-diagnose.duckdb]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--failures", type=int, default=100_000)
    ap.add_argument("--noise", type=int, default=100_000, help="successful events besides the failures")
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()

    import _corpus

    from diag.collect.bundle import read_bundle
    from diag.collect.snapshot import load_bundle
    from diag.diagnosis.batch import diagnose_pending
    from diag.store import open_db

    tmp = Path(tempfile.mkdtemp(prefix="bench-diagnose-"))
    db = args.db or tmp / "bench.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    con = open_db(db)
    t0 = time.perf_counter()
    load_bundle(con, read_bundle(_corpus.write_bundle(tmp / "bundle")))
    _corpus.insert_events(con, total=args.failures + args.noise, failures=args.failures)
    build = time.perf_counter() - t0
    summary = diagnose_pending(con)
    again = time.perf_counter()
    diagnose_pending(con, redo=True)
    redo_s = time.perf_counter() - again
    con.close()
    print(
        json.dumps(
            {
                "failures": summary["failures"],
                "events": args.failures + args.noise,
                "decision_keys": summary["decision_keys"],
                "seconds": summary["seconds"],
                "diagnoses_per_second": summary["diagnoses_per_second"],
                "decision_keys_per_second": round(summary["decision_keys"] / summary["seconds"], 1),
                "redo_all_seconds": round(redo_s, 3),
                "by_verdict": summary["by_verdict"],
                "build_seconds": round(build, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
