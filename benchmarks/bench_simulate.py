"""`kmsdiag simulate --batch` throughput against iam-simulate (Node), whole processes, one run.

The requests: ``gen_sim_requests.py`` (random KMS-shaped request documents; nearly every one a new
decision). The reference: the npm package ``@cloud-copilot/iam-simulate`` driven by ``iamsim/driver.mjs``
(install once: ``cd benchmarks/iamsim && npm install``), which reads the same JSON Lines and writes one
``{"id", "decision"}`` line per request (``--full``: with its whole result object).

Timed as separate processes, interleaved round by round so that every variant sees the same load:
``node driver.mjs``, ``node driver.mjs --full``, ``python -m diag simulate --batch - --fields
decision,deciding_layers`` (compact) and ``python -m diag simulate --batch -`` (full trace). Per variant:
median wall time and median CPU (user + system of the child), requests per CPU-second, and the ratio to
iam-simulate's compact run. Before timing, the decisions of the two engines are compared (agreement is
printed, not asserted: the engines differ on documented points). ``--scale`` also runs 3× the requests
once per variant to state CPU per request at 1× and 3× (linear scaling).

Usage: ``python benchmarks/bench_simulate.py [--count 20000] [--rounds 3] [--scale] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "benchmarks" / "iamsim"
sys.path.insert(0, str(REPO / "benchmarks"))


def run(cmd: list[str], stdin: Path, stdout: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with stdin.open("rb") as fin, stdout.open("wb") as fout:
        subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, check=False, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def variants() -> dict[str, list[str]]:
    py = [sys.executable, "-m", "diag", "simulate", "--batch", "-"]
    node = ["node", str(NODE_DIR / "driver.mjs")]
    return {
        "iam_simulate": node,
        "iam_simulate_full": [*node, "--full"],
        "kmsdiag_compact": [*py, "--fields", "decision,deciding_layers"],
        "kmsdiag_full_trace": py,
    }


def agreement(ref_out: Path, our_out: Path) -> tuple[int, int]:
    ref = [json.loads(line)["decision"] for line in ref_out.read_text().splitlines() if line]
    ours = [json.loads(line)["decision"] for line in our_out.read_text().splitlines() if line]
    return sum(a == b for a, b in zip(ref, ours, strict=False)), len(ref)


def main(argv: list[str] | None = None) -> int:
    import gen_sim_requests

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", action="store_true", help="also run 3x the requests once (CPU per request)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not (NODE_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        print("iam-simulate is not installed: cd benchmarks/iamsim && npm install", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    req = gen_sim_requests.write(tmp / "requests.jsonl", args.count)
    outs = {name: tmp / f"{name}.out" for name in variants()}
    load = os.getloadavg()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants()}
    for _ in range(args.rounds):
        for name, cmd in variants().items():
            times[name].append(run(cmd, req, outs[name]))
    agree, total = agreement(outs["iam_simulate"], outs["kmsdiag_compact"])
    fig: dict[str, object] = {
        "requests": args.count,
        "input_mb": round(req.stat().st_size / 1e6, 1),
        "rounds": args.rounds,
        "loadavg_1m_before_after": [round(load[0], 2), round(os.getloadavg()[0], 2)],
        "decisions_agree": f"{agree}/{total}",
    }
    ref_cpu = statistics.median(c for _, c in times["iam_simulate"])
    ref_wall = statistics.median(w for w, _ in times["iam_simulate"])
    for name, ts in times.items():
        wall = statistics.median(w for w, _ in ts)
        cpu = statistics.median(c for _, c in ts)
        fig[name] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "req_per_wall_s": round(args.count / wall),
            "req_per_cpu_s": round(args.count / cpu),
            "cpu_ratio_vs_iam_simulate": round(ref_cpu / cpu, 2),
            "wall_ratio_vs_iam_simulate": round(ref_wall / wall, 2),
            "output_mb": round(outs[name].stat().st_size / 1e6, 1),
        }
    if args.scale:
        big = gen_sim_requests.write(tmp / "requests3x.jsonl", 3 * args.count)
        scale: dict[str, object] = {}
        for name, cmd in variants().items():
            _, cpu3 = run(cmd, big, outs[name])
            cpu1 = statistics.median(c for _, c in times[name])
            scale[name] = {
                "cpu_ms_per_req_1x": round(1000 * cpu1 / args.count, 3),
                "cpu_ms_per_req_3x": round(1000 * cpu3 / (3 * args.count), 3),
            }
        fig["scaling"] = scale
    if args.json:
        print(json.dumps(fig))
    else:
        print(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
