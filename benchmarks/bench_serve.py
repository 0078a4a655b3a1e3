"""`kmsdiag explain` answered by a resident `kmsdiag serve`, against a cold explain and the floor
`python -c "import duckdb"`, whole processes interleaved in one run.

Uses a database built by ``bench_explain.py`` (``--db``; built here with ``--events`` when missing). Starts
`kmsdiag serve` with a private runtime folder, checks once that the served answer is byte-identical to the
cold one (JSON and rich output), then times 5 commands per round: the floor, a cold `explain ID --json`
(``KMSDIAG_NO_SERVER=1``), a served one, and both again with the rich output. Prints one JSON line: median
wall seconds, ratios to the floor, and the CPU time of one served explain counting both processes (the
short-lived client and the server's share, read from ``/proc``; Linux). Usage:

    python benchmarks/bench_serve.py --db /tmp/bench-explain.duckdb [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def _server_cpu(pid: int) -> float:
    """User + system seconds the server has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "bench-explain.duckdb")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    import compileall

    compileall.compile_dir(REPO / "diag", quiet=1)
    import bench_explain

    if not args.db.exists():
        bench_explain.build(args.db, args.events)
    n_events, event_id, _ = bench_explain.pick_event(args.db)

    runtime = Path(tempfile.mkdtemp(prefix="kmsdiag-bench-serve-"))
    base = {k: v for k, v in os.environ.items() if k != "KMSDIAG_NO_SERVER"}
    served_env = {**base, "XDG_RUNTIME_DIR": str(runtime), "NO_COLOR": "1"}
    cold_env = {**served_env, "KMSDIAG_NO_SERVER": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "diag", "serve", "--json", "--idle-timeout", "0"],
        cwd=REPO,
        env=served_env,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    status = json.loads(server.stdout.readline())
    try:
        py = sys.executable
        explain = [py, "-m", "diag", "explain", event_id, "--db", str(args.db)]
        cmds = {
            "import_duckdb": ([py, "-c", "import duckdb"], cold_env),
            "cold_json": ([*explain, "--json"], cold_env),
            "served_json": ([*explain, "--json"], served_env),
            "cold_rich": (explain, cold_env),
            "served_rich": (explain, served_env),
        }
        outputs = {name: _run(cmd, env)[2] for name, (cmd, env) in cmds.items()}  # also warms caches
        same = outputs["cold_json"] == outputs["served_json"] and outputs["cold_rich"] == outputs["served_rich"]
        wall: dict[str, list[float]] = {k: [] for k in cmds}
        served_cpu: list[float] = []
        for _ in range(args.runs):
            for name, (cmd, env) in cmds.items():
                server_before = _server_cpu(server.pid)
                elapsed, client_cpu, _ = _run(cmd, env)
                wall[name].append(elapsed)
                if name == "served_json":
                    served_cpu.append(client_cpu + _server_cpu(server.pid) - server_before)
        med = {k: round(statistics.median(v), 3) for k, v in wall.items()}
        print(
            json.dumps(
                {
                    "events": n_events,
                    "runs": args.runs,
                    "served_output_identical": same,
                    "median_seconds": med,
                    "ratio_to_import_duckdb": bench_explain.ratios(med),
                    "served_json_cpu_seconds_client_plus_server": round(statistics.median(served_cpu), 3),
                    "served_requests": int(
                        json.loads(
                            subprocess.run(
                                [sys.executable, "-m", "diag", "serve", "--status", "--json"],
                                cwd=REPO,
                                env=served_env,
                                capture_output=True,
                                check=True,
                            ).stdout
                        )["served"]
                    ),
                    "socket": status["socket"],
                    "load_average": os.getloadavg()[0],
                }
            )
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
