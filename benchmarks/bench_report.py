"""Benchmark `kmsdiag report` on a large database: 5M events, 25,000 failures (DESIGN.md section 10).

The database is generated directly with DuckDB SQL (no CloudTrail files): events spread over 7 days
across 6 accounts, 400 roles and 120 keys, with KMS/S3/IAM noise, cross-account copies and policy
changes; the failures repeat over a few hundred causes (skewed, like real ones), 90 % of them diagnosed
with DESIGN.md section 7 findings. Then `kmsdiag report` runs as a separate process per format, and we
report wall time and peak memory (ru_maxrss of the child), medians of --repeat runs.

    python benchmarks/bench_report.py                       # 5M events, 25k failures
    python benchmarks/bench_report.py --events 500000 --failures 2500 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

END = dt.datetime(2026, 11, 29, 0, 0, 0)
DAYS = 7
VERDICTS = [
    "KEY_POLICY_NO_PRINCIPAL",
    "KEY_POLICY_PRINCIPAL_TYPO",
    "IAM_POLICY_MISSING",
    "IAM_RESOURCE_MISMATCH",
    "CONDITION_VIA_SERVICE",
    "CONDITION_ENCRYPTION_CONTEXT",
    "EXPLICIT_DENY",
    "SCP_NO_ALLOW",
    "GRANT_MISSING",
    "WRONG_REGION",
    "KEY_POLICY_OVERWRITTEN",
    "UNKNOWN",
]


def generate(db: Path, events: int, failures: int, causes: int) -> dict[str, float]:
    """Fill a fresh database; return generation timings."""
    from diag.store import open_db

    t0 = time.perf_counter()
    con = open_db(db)
    start = END - dt.timedelta(days=DAYS)
    step_us = int(DAYS * 86400 * 1_000_000 / events)
    every = max(1, events // failures)
    verdicts = "[" + ", ".join(f"'{v}'" for v in VERDICTS) + "]"
    # pseudo-random but deterministic per row: hash(i)
    con.execute(
        f"""
        INSERT INTO events (event_id, event_time, event_version, event_source, event_name, event_type, aws_region,
                            source_ip, user_agent, error_code, error_message, caller_arn, caller_type, caller_account,
                            caller_role_arn, caller_session_name, recipient_account, shared_event_id, request_id,
                            key_arn, key_account, raw, source_file, ingested_at)
        WITH r AS (
            SELECT i,
                   (i % {every} = 0 AND i // {every} < {failures}) AS failed,
                   hash(i) AS h,
                   -- failures concentrate on few causes: cube of a uniform number over the cause pool
                   CAST(floor(pow((hash(i * 7 + 1) % 1000000) / 1000000.0, 3) * {causes}) AS BIGINT) AS cause,
                   hash(i) % 100 AS kind
            FROM range({events}) t(i)
        ), c AS (
            SELECT *,
                   CASE WHEN failed THEN cause % 400 ELSE h % 400 END AS role_n,
                   CASE WHEN failed THEN (cause * 31) % 120 ELSE (h // 400) % 120 END AS key_n,
                   CASE WHEN failed THEN 'kms.amazonaws.com'
                        WHEN kind < 80 THEN 'kms.amazonaws.com' WHEN kind < 97 THEN 's3.amazonaws.com'
                        ELSE 'iam.amazonaws.com' END AS src
            FROM r
        ), d AS (
            SELECT *,
                   lpad(CAST(111111111111 * (1 + role_n % 5) AS VARCHAR), 12, '0') AS caller_acct,
                   '999999999999' AS key_acct,
                   CASE WHEN src = 'kms.amazonaws.com'
                        THEN (['Decrypt', 'GenerateDataKey', 'Encrypt', 'DescribeKey'])[1 + CAST((CASE WHEN failed THEN cause ELSE h END) % 4 AS INTEGER)]
                        WHEN src = 's3.amazonaws.com' THEN (['GetObject', 'PutObject'])[1 + CAST(h % 2 AS INTEGER)]
                        ELSE (['PutRolePolicy', 'CreateRole'])[1 + CAST(h % 2 AS INTEGER)] END AS name
            FROM c
        )
        SELECT 'e' || lpad(CAST(i AS VARCHAR), 10, '0'),
               TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_microseconds(CAST(i * {step_us} AS BIGINT)),
               '1.09', src, name, 'AwsApiCall', 'us-east-1', '10.0.0.1', 'aws-sdk-java/2.20.0',
               CASE WHEN failed THEN 'AccessDenied' END,
               CASE WHEN failed THEN 'not authorized to perform kms:' || name END,
               'arn:aws:sts::' || caller_acct || ':assumed-role/Role' || role_n || '/s' || (h % 7),
               'AssumedRole', caller_acct,
               'arn:aws:iam::' || caller_acct || ':role/Role' || role_n,
               's' || (h % 7),
               caller_acct,
               CASE WHEN NOT failed AND src = 'kms.amazonaws.com' AND kind < 20 THEN 'sh' || i END,
               'req-' || i,
               CASE WHEN src = 'kms.amazonaws.com'
                    THEN 'arn:aws:kms:us-east-1:' || key_acct || ':key/' || lpad(CAST(key_n AS VARCHAR), 8, '0') || '-0000-0000-0000-000000000000' END,
               CASE WHEN src = 'kms.amazonaws.com' THEN key_acct END,
               '{{"eventID":"e' || i || '","eventName":"' || name || '"}}',
               'bench', TIMESTAMP '{END:%Y-%m-%d %H:%M:%S}'
        FROM d
        """
    )
    t1 = time.perf_counter()
    con.execute(
        f"""
        INSERT INTO diagnoses (event_id, verdict, codes, findings, layers, decision_key, policies_as_of, snapshot_id,
                               engine_version, diagnosed_at)
        WITH f AS (
            SELECT event_id, caller_role_arn, key_arn, event_name,
                   {verdicts}[1 + CAST(hash(caller_role_arn, key_arn, event_name) % {len(VERDICTS)} AS INTEGER)] AS verdict
            FROM events WHERE error_code IS NOT NULL
        )
        SELECT event_id, verdict, [verdict],
               json_array(json_object(
                   'code', verdict, 'layer', 'key_policy', 'account', '999999999999',
                   'summary', verdict || ' for ' || caller_role_arn || ' on kms:' || event_name,
                   'evidence', json_object('statement', 'AllowUse', 'key', key_arn),
                   'fix', json_object('summary', 'Allow ' || caller_role_arn || ' in the key policy',
                                      'policy', json_object('Effect', 'Allow', 'Principal', json_object('AWS', caller_role_arn),
                                                            'Action', 'kms:' || event_name, 'Resource', '*'),
                                      'commands', json_array('aws kms put-key-policy --key-id ' || key_arn || ' --policy-name default --policy file://p.json')))),
               '[]', md5(caller_role_arn || key_arn || event_name), TIMESTAMP '{END:%Y-%m-%d %H:%M:%S}', 1, 'bench',
               TIMESTAMP '{END:%Y-%m-%d %H:%M:%S}'
        FROM f
        WHERE hash(event_id) % 10 <> 0
        """
    )
    con.execute("CHECKPOINT")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM failures), (SELECT count(*) FROM causes),"
        " (SELECT count(*) FROM diagnoses)"
    ).fetchall()[0]
    con.close()
    t2 = time.perf_counter()
    print(
        f"generated: {counts[0]:,} events, {counts[1]:,} failures, {counts[2]:,} causes, {counts[3]:,} diagnoses; "
        f"events {t1 - t0:.1f} s, diagnoses+checkpoint {t2 - t1:.1f} s, file {db.stat().st_size / 1e6:.0f} MB",
        flush=True,
    )
    return {"events_s": t1 - t0, "diagnoses_s": t2 - t1}


def run_report(db: Path, out: Path, fmt: str, since: str, record: bool) -> tuple[float, float, float]:
    """One `kmsdiag report` in a child process: (wall s, CPU s (user+system, all threads), peak RSS MB)."""
    args = [
        sys.executable,
        "-m",
        "diag",
        "--db",
        str(db),
        "--quiet",
        "report",
        "--since",
        since,
        "--until",
        END.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--format",
        fmt,
        "--out",
        str(out),
    ]
    if not record:
        args.append("--no-record")
    return _child(args)


def _child(args: list[str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its CPU time and peak RSS
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({proc.returncode}): {stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--failures", type=int, default=25_000)
    ap.add_argument("--causes", type=int, default=600, help="size of the pool failures are drawn from")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", type=Path, help="reuse/keep this database (generated when missing)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kmsdiag-bench-report-"))
    db = args.db or tmp / "bench.duckdb"
    if not db.exists():
        generate(db, args.events, args.failures, args.causes)
    results = []
    for fmt, since, record in (
        ("json", "7d", False),
        ("md", "7d", False),
        ("html", "7d", False),
        ("html", "24h", False),
        ("html", "7d", True),
    ):
        walls, cpus, peaks = [], [], []
        for _ in range(args.repeat):
            out = tmp / f"report.{fmt}"
            wall, cpu, peak = run_report(db, out, fmt, since, record)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        size = (tmp / f"report.{fmt}").stat().st_size
        results.append((fmt, since, record, statistics.median(walls), max(peaks), size, statistics.median(cpus)))
        print(
            f"report --format {fmt:4} --since {since:3} {'(recorded)' if record else '          '}: "
            f"median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU over {args.repeat} runs, peak RSS {max(peaks):.0f} MB, "
            f"output {size / 1e3:.0f} kB",
            flush=True,
        )
    # for comparison: a bare Python process that imports duckdb and counts the failures view
    code = (
        f"import duckdb; c = duckdb.connect({str(db)!r}, read_only=True); "
        "print(c.execute('SELECT count(*) FROM failures').fetchall())"
    )
    bwall, bcpu, bpeak = _child([sys.executable, "-c", code])
    html7 = results[2]
    print(
        f"baseline (python + duckdb, count the failures view): {bwall:.2f} s wall, {bcpu:.2f} s CPU, {bpeak:.0f} MB; "
        f"HTML 7d report / baseline: {html7[3] / bwall:.1f}x wall, {html7[6] / bcpu:.1f}x CPU"
    )
    if not args.db:
        for p in tmp.iterdir():
            p.unlink()
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
