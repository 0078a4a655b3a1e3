"""Benchmark `kmsdiag ingest` against DuckDB's own read_json scan of the same files (DESIGN.md section 10).

    python benchmarks/bench_ingest.py --events 1000000            # generates /tmp/kmsdiag-corpus-1000000
    python benchmarks/bench_ingest.py --corpus DIR [--repeat 3]

In one run and on the same files it measures, each in a fresh child process with a fresh database:

1. ``python -m diag ingest --db FRESH CORPUS`` (the real CLI: parse, filter, normalize, raw JSON kept,
   dedupe, ingested_files bookkeeping);
2. the ceiling: DuckDB ``read_json(..., columns={'Records': 'STRUCT(...)[]'}, records=true)`` over the
   same log files (digests excluded by the glob), unnested, filtered with the same rule, typed columns
   into a table; no raw JSON kept, no dedupe, no bookkeeping.

It prints events/s of each, the ratio ingest/ceiling (by wall time, and by CPU time of the whole process
tree, which is steadier when other processes share the cores), and peak memory: the sum of the resident memory
of the child process tree, sampled every 20 ms (workers included), and each run's largest single
process (getrusage). Quote ratios, not absolute times: machines are shared and noisy.

Linearity (CPU seconds per event at 1M vs 2M or 3M): build the larger corpus from disjoint 1M slices,
generated in parallel, hard-linked into one tree, and time the ingest alone::

    python benchmarks/gen_corpus.py --events 1000000 --seed 8 --start-slot 600 --out /tmp/slice2 &
    python benchmarks/gen_corpus.py --events 1000000 --seed 9 --start-slot 1200 --out /tmp/slice3 &
    wait; cp -al /tmp/kmsdiag-corpus-1000000 /tmp/c3m
    cp -al /tmp/slice2/AWSLogs/. /tmp/c3m/AWSLogs/; cp -al /tmp/slice3/AWSLogs/. /tmp/c3m/AWSLogs/
    python benchmarks/bench_ingest.py --corpus /tmp/c3m --skip-ceiling

Latest figures (docs/performance.md, "How ingest is fast", has the tables): 300k events in 1,200 files,
median of 3 runs on 2 cores shared with eight other sessions (load average 10 to 12): ratios 0.74 (wall)
and 0.67 (CPU), peak 720 MiB (tree); 1M, one run (load 13 to 19): 0.87 (CPU), peak 829 MiB.

Earlier figures (2 shared cores, load 2 to 3): 1M events, median of 3 runs,
ingest 31.8 s wall / 53.6 s CPU against the ceiling's 22.2 s / 39.9 s: ratios 0.70 (wall) and 0.74 (CPU),
peak 950 MiB (tree). 3M: 103.6 s / 177.2 s, 59 µs of CPU per event against 55 µs for the 1M run right after
it (1.08x), peak 1,211 MiB.
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FIELDS = {
    "eventID": "VARCHAR",
    "eventTime": "VARCHAR",
    "eventVersion": "VARCHAR",
    "eventSource": "VARCHAR",
    "eventName": "VARCHAR",
    "eventType": "VARCHAR",
    "eventCategory": "VARCHAR",
    "awsRegion": "VARCHAR",
    "sourceIPAddress": "VARCHAR",
    "userAgent": "VARCHAR",
    "errorCode": "VARCHAR",
    "errorMessage": "VARCHAR",
    "userIdentity": "STRUCT(type VARCHAR, arn VARCHAR, accountId VARCHAR, principalId VARCHAR, invokedBy VARCHAR,"
    " userName VARCHAR, sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR, userName VARCHAR)))",
    "recipientAccountId": "VARCHAR",
    "sharedEventID": "VARCHAR",
    "requestID": "VARCHAR",
    "vpcEndpointId": "VARCHAR",
    "readOnly": "BOOLEAN",
    "managementEvent": "BOOLEAN",
    "requestParameters": "STRUCT(keyId VARCHAR, bucketName VARCHAR, encryptionContext JSON)",
    "resources": "STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[]",
}

CEILING_SQL = """
SET threads = {threads};
SET enable_progress_bar = false;
CREATE TABLE ceiling AS
WITH r AS (
  SELECT unnest(Records) AS e
  FROM read_json('{glob}', columns = {{'Records': 'STRUCT({struct})[]'}}, records = true,
                 format = 'auto', maximum_object_size = 1073741824, compression = 'gzip')
)
SELECT e.eventID AS event_id, timezone('UTC', TRY_CAST(e.eventTime AS TIMESTAMPTZ)) AS event_time,
       e.eventVersion AS event_version, e.eventSource AS event_source, e.eventName AS event_name,
       e.eventType AS event_type, e.eventCategory AS event_category, e.awsRegion AS aws_region,
       e.sourceIPAddress AS source_ip, e.userAgent AS user_agent, e.errorCode AS error_code,
       e.errorMessage AS error_message, e.userIdentity.arn AS caller_arn, e.userIdentity.type AS caller_type,
       e.userIdentity.accountId AS caller_account, e.userIdentity.principalId AS caller_principal_id,
       e.userIdentity.sessionContext.sessionIssuer.arn AS caller_role_arn, e.userIdentity.invokedBy AS invoked_by,
       e.recipientAccountId AS recipient_account, e.sharedEventID AS shared_event_id, e.requestID AS request_id,
       e.resources[1].ARN AS key_arn, e.requestParameters.keyId AS key_id_given,
       e.requestParameters.bucketName AS bucket, e.vpcEndpointId AS vpc_endpoint_id, e.readOnly AS read_only,
       e.managementEvent AS management_event, e.requestParameters.encryptionContext AS encryption_context
FROM r
WHERE e.eventSource IN ('kms.amazonaws.com', 's3.amazonaws.com')
   OR (e.eventSource = 'iam.amazonaws.com' AND NOT regexp_matches(e.eventName, '^(Get|List|Describe|Generate|Simulate)'))
   OR (e.eventSource = 'sts.amazonaws.com' AND e.eventName IN {sts})
   OR (e.eventSource = 'organizations.amazonaws.com' AND e.eventName IN {orgs});
SELECT count(*) FROM ceiling;
"""


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (Linux /proc)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float | str]:
    """Run a child; return wall seconds, peak tree RSS (MiB), its stdout, and its max single-process RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {"seconds": wall, "cpu_seconds": cpu, "peak_tree_mib": peak / 1024, "stdout": out.decode()}


def ceiling_script(corpus: Path, db: Path, threads: int) -> list[str]:
    from diag.ingest.filter import ORGANIZATIONS_KEPT, STS_KEPT

    struct = ", ".join(f'"{k}" {v}' for k, v in FIELDS.items())
    glob = str(corpus / "AWSLogs" / "*" / "CloudTrail" / "*" / "*" / "*" / "*" / "*.json.gz")
    sql = CEILING_SQL.format(
        threads=threads,
        glob=glob,
        struct=struct,
        sts=tuple(sorted(STS_KEPT)),
        orgs=tuple(sorted(ORGANIZATIONS_KEPT)),
    )
    code = (
        "import duckdb, sys, json\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "stmts = [s for s in sys.argv[1].split(';\\n') if s.strip()]\n"
        "for s in stmts[:-1]: con.execute(s)\n"
        "print(json.dumps({'stored': con.execute(stmts[-1]).fetchone()[0]}))\n"
    )
    return [sys.executable, "-c", code, sql]


def corpus_counts(corpus: Path) -> tuple[int, int]:
    files = [p for p in corpus.rglob("*.json.gz") if "CloudTrail-Digest" not in str(p)]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="generate a corpus of this size (if --corpus absent)")
    ap.add_argument("--corpus", type=Path, help="an existing corpus (gen_corpus.py layout)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; medians are reported")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads for the ceiling")
    ap.add_argument("--workers", type=int, default=0, help="kmsdiag ingest --workers (0: default)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--skip-ceiling", action="store_true", help="only time kmsdiag ingest (e.g. for linearity)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))

    corpus = args.corpus or Path(tempfile.gettempdir()) / f"kmsdiag-corpus-{args.events}"
    if not corpus.exists():
        from benchmarks.gen_corpus import generate

        print(f"generating {args.events:,} events into {corpus} …", file=sys.stderr)
        generate(corpus, args.events)
    n_files, n_bytes = corpus_counts(corpus)

    ingest_runs: list[dict[str, float | str]] = []
    ceiling_runs: list[dict[str, float | str]] = []
    events_read = stored = ceiling_stored = 0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kmsdiag-bench-") as tmp:
        for i in range(args.repeat):
            db = Path(tmp) / f"ingest-{i}.duckdb"
            cmd = [sys.executable, "-m", "diag", "ingest", "--db", str(db), "--json", str(corpus)]
            if args.workers:
                cmd += ["--workers", str(args.workers)]
            r = run_measured(cmd)
            summary = json.loads(str(r["stdout"]))
            events_read, stored = summary["events_read"], summary["events_stored"]
            ingest_runs.append(r)
            db.unlink()
            if args.skip_ceiling:
                continue
            cdb = Path(tmp) / f"ceiling-{i}.duckdb"
            c = run_measured(ceiling_script(corpus, cdb, args.threads))
            ceiling_stored = json.loads(str(c["stdout"]))["stored"]
            ceiling_runs.append(c)
            cdb.unlink()

    def med(runs: list[dict[str, float | str]], key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    if not ceiling_runs:  # --skip-ceiling: report the ceiling as unknown
        ceiling_runs = [{"seconds": float("nan"), "cpu_seconds": float("nan"), "peak_tree_mib": float("nan")}]
    ing_s, ceil_s = med(ingest_runs, "seconds"), med(ceiling_runs, "seconds")
    ing_cpu, ceil_cpu = med(ingest_runs, "cpu_seconds"), med(ceiling_runs, "cpu_seconds")
    figures = {
        "corpus": str(corpus),
        "files": n_files,
        "compressed_mib": round(n_bytes / 2**20, 1),
        "events": events_read,
        "stored_by_ingest": stored,
        "stored_by_ceiling": ceiling_stored,
        "ingest_seconds": round(ing_s, 2),
        "ceiling_seconds": round(ceil_s, 2),
        "ingest_events_per_s": round(events_read / ing_s),
        "ceiling_events_per_s": round(events_read / ceil_s) if ceil_s == ceil_s else None,
        "ratio_ingest_to_ceiling": round(ceil_s / ing_s, 3),
        "ingest_cpu_seconds": round(ing_cpu, 2),
        "ceiling_cpu_seconds": round(ceil_cpu, 2),
        "cpu_ratio_ingest_to_ceiling": round(ceil_cpu / ing_cpu, 3),
        "ingest_peak_mib": round(max(float(r["peak_tree_mib"]) for r in ingest_runs), 1),
        "ceiling_peak_mib": round(max(float(r["peak_tree_mib"]) for r in ceiling_runs), 1),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"corpus: {n_files:,} files, {figures['compressed_mib']} MiB gzip, {events_read:,} events")
    print(
        f"kmsdiag ingest : {ing_s:7.2f} s  {figures['ingest_events_per_s']:>10,} events/s  "
        f"cpu {ing_cpu:6.2f} s  peak {figures['ingest_peak_mib']:.0f} MiB  stored {stored:,}"
    )
    if args.skip_ceiling:
        return
    print(
        f"duckdb ceiling : {ceil_s:7.2f} s  {figures['ceiling_events_per_s']:>10,} events/s  "
        f"cpu {ceil_cpu:6.2f} s  peak {figures['ceiling_peak_mib']:.0f} MiB  stored {ceiling_stored:,}"
    )
    print(
        f"ratio ingest/ceiling throughput: wall {figures['ratio_ingest_to_ceiling']:.2f}, "
        f"cpu {figures['cpu_ratio_ingest_to_ceiling']:.2f}  "
        f"[{args.repeat} run(s), median; load average {figures['load_average_before']:.1f} before, "
        f"{figures['load_average']:.1f} after, on {os.cpu_count()} cpus]"
    )


if __name__ == "__main__":
    main()
