"""What the policy-audit section costs a `kmsdiag report`, on the sample scenarios (sample_trails/).

Builds one database per scenario (ingest its trails, collect its bundle, diagnose) and one with all of
them (every bundle collected in turn: each account's latest snapshot is audited), then times, medians of
--repeat runs:

- in-process: ``build_report`` + HTML rendering, without the audit, with it (default: no matrix), and
  with ``--audit-matrix``; plus the audit section's own ``seconds``;
- whole process: ``kmsdiag report --since all --format html --no-record`` with and without ``--no-audit``
  (wall time, including Python start-up and imports), on the all-scenarios database.

    python benchmarks/bench_report_audit.py               # every scenario, 3 runs each
    python benchmarks/bench_report_audit.py --repeat 1 --scenarios 01-guide-walkthrough 12-key-policy-overwritten
                                                            # (the combined database still holds every one)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SAMPLES = REPO / "sample_trails"


def _kmsdiag(db: Path, *args: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "diag", "--db", str(db), "--quiet", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        check=False,
    ).returncode


def build(db: Path, scenarios: list[Path]) -> None:
    trails = [str(s / "trails") for s in scenarios if (s / "trails").is_dir()]
    assert _kmsdiag(db, "ingest", *trails) == 0
    for s in scenarios:
        if (s / "bundle").is_dir():
            assert _kmsdiag(db, "collect", "--from-dir", str(s / "bundle")) == 0
    assert _kmsdiag(db, "diagnose") in (0, 1)


def in_process(db: Path, repeat: int) -> dict[str, Any]:
    from diag.report import render
    from diag.report.build import build_report
    from diag.report.window import parse_window
    from diag.store import open_db

    con = open_db(db, read_only=True)
    try:
        first = con.execute("SELECT min(event_time) FROM events").fetchall()[0][0]
        window = parse_window("all", None, first=first)
        now = dt.datetime(2026, 11, 29, 6)
        out: dict[str, Any] = {}
        render(build_report(con, window, previous=None, generated_at=now, audit=True), "html")  # warm-up: imports
        for name, audit, matrix in (("no_audit", False, False), ("audit", True, False), ("audit_matrix", True, True)):
            times, section = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                report = build_report(con, window, previous=None, generated_at=now, audit=audit, audit_matrix=matrix)
                render(report, "html")
                times.append(time.perf_counter() - t0)
                if report.audit is not None:
                    section.append(report.audit.seconds)
            out[name] = statistics.median(times)
            if section:
                out[name + "_section"] = statistics.median(section)
            if report.audit is not None:
                out[name + "_findings"] = report.audit.total
                out[name + "_errors"] = len(report.audit.errors)
    finally:
        con.close()
    return out


def whole_process(db: Path, repeat: int, out_dir: Path) -> dict[str, float]:
    res = {}
    for name, extra in (("no_audit", ["--no-audit"]), ("audit", [])):
        times = []
        for i in range(repeat):
            t0 = time.perf_counter()
            out = str(out_dir / f"{name}-{i}.html")
            code = _kmsdiag(db, "report", "--since", "all", "--format", "html", "--out", out, "--no-record", *extra)
            assert code == 0
            times.append(time.perf_counter() - t0)
        res[name] = statistics.median(times)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scenarios", nargs="*", help="scenario folder names (default: all)")
    args = ap.parse_args()
    folders = sorted(p for p in SAMPLES.iterdir() if (p / "trails").is_dir() or (p / "bundle").is_dir())
    every = folders  # the combined database always holds every scenario
    if args.scenarios:
        folders = [p for p in folders if p.name in set(args.scenarios)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"{'scenario':40} {'no audit':>9} {'audit':>9} {'+matrix':>9} {'section':>8} {'findings':>8}")
        rows = []
        for folder in folders:
            db = root / f"{folder.name}.duckdb"
            build(db, [folder])
            r = in_process(db, args.repeat)
            rows.append(r)
            print(
                f"{folder.name:40} {r['no_audit']:9.3f} {r['audit']:9.3f} {r['audit_matrix']:9.3f}"
                f" {r['audit_section']:8.3f} {r['audit_findings']:8d}"
                + (f"  errors {r['audit_errors']}" if r["audit_errors"] else "")
            )
        if rows:
            med = {
                k: statistics.median(r[k] for r in rows) for k in ("no_audit", "audit", "audit_matrix", "audit_section")
            }
            print(
                f"{'median over scenarios':40} {med['no_audit']:9.3f} {med['audit']:9.3f} {med['audit_matrix']:9.3f}"
                f" {med['audit_section']:8.3f}"
            )
        db = root / "all.duckdb"
        build(db, every)
        r = in_process(db, args.repeat)
        print(
            f"{'all scenarios in one database':40} {r['no_audit']:9.3f} {r['audit']:9.3f} {r['audit_matrix']:9.3f}"
            f" {r['audit_section']:8.3f} {r['audit_findings']:8d}"
        )
        w = whole_process(db, args.repeat, root)
        print(f"whole process, all scenarios, HTML: --no-audit {w['no_audit']:.2f} s, with audit {w['audit']:.2f} s")


if __name__ == "__main__":
    main()
