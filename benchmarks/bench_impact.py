"""`kmsdiag impact` replay speed: observed successful calls replayed against one changed key policy.

Builds a fresh database with the synthetic bundle of _corpus.py and ``--events`` successful KMS calls on
key 0 by its 25 allowed roles (Decrypt / GenerateDataKey, ``--tenants`` distinct encryption contexts), so
the distinct calls are 25 × 2 × tenants. The proposed key policy keeps only roles 0-11 in the "Apps"
statement: about half of the distinct calls break. Times ``run_impact`` (the library call behind `kmsdiag
impact`): the replay alone (``new_access=False``), then the new-access matrix separately. Prints one JSON
line; the figure quoted in docs/before-you-merge.md comes from this script. Usage:

    python benchmarks/bench_impact.py [--events 1000000] [--tenants 200] [--db /tmp/bench-impact.duckdb]
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


def insert_successes(con: object, *, total: int, tenants: int) -> None:
    import _corpus

    key = _corpus.key_arn(0)
    acct, kacct, region = _corpus.CALLER_ACCOUNT, _corpus.KEY_ACCOUNT, _corpus.REGION
    con.execute(  # type: ignore[attr-defined]
        f"""
        INSERT INTO events (event_id, event_time, event_source, event_name, aws_region, error_code, caller_arn,
            caller_type, caller_account, caller_role_arn, recipient_account, key_arn, key_id_given, key_account,
            encryption_context, raw, ingested_at)
        WITH g AS (
            SELECT i, CAST(hash(i * 7919) % 25 AS BIGINT) AS role, CAST(hash(i * 31) % {tenants} AS BIGINT) AS tenant,
                   ['Decrypt', 'GenerateDataKey'][CAST(1 + hash(i * 131) % 2 AS BIGINT)] AS name,
                   TIMESTAMP '2026-11-20 00:00:00' + to_seconds(i * (2000000 // {max(total, 1)} + 1) / 1.0) AS t
            FROM range({total}) r(i)
        ), r AS (
            SELECT *, printf('b%07d-0000-4000-8000-%012d', i // 100000000, i) AS eid,
                   'arn:aws:sts::{acct}:assumed-role/App' || lpad(CAST(role AS VARCHAR), 2, '0') || 'Role/s-' || CAST(i % 97 AS VARCHAR) AS session,
                   'arn:aws:iam::{acct}:role/App' || lpad(CAST(role AS VARCHAR), 2, '0') || 'Role' AS role_arn,
                   json_object('tenant', 't' || CAST(tenant AS VARCHAR)) AS ec
            FROM g
        )
        SELECT eid, t, 'kms.amazonaws.com', name, '{region}', NULL, session, 'AssumedRole', '{acct}', role_arn, '{acct}',
               '{key}', '{key}', '{kacct}', ec,
               json_object('eventVersion', '1.08', 'eventID', eid, 'eventTime', strftime(t, '%Y-%m-%dT%H:%M:%SZ'),
                   'eventSource', 'kms.amazonaws.com', 'eventName', name, 'awsRegion', '{region}',
                   'userIdentity', json_object('type', 'AssumedRole', 'arn', session, 'accountId', '{acct}',
                        'principalId', 'AROAEXAMPLE:s',
                        'sessionContext', json_object('sessionIssuer', json_object('type', 'Role', 'arn', role_arn, 'accountId', '{acct}'))),
                   'requestParameters', json_object('keyId', '{key}', 'encryptionContext', ec),
                   'resources', json_array(json_object('ARN', '{key}', 'type', 'AWS::KMS::Key', 'accountId', '{kacct}')),
                   'sourceIPAddress', '10.0.0.1', 'recipientAccountId', '{acct}'),
               now()::TIMESTAMP
        FROM r
        """
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--tenants", type=int, default=200)
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()

    import _corpus

    from diag.collect.bundle import read_bundle
    from diag.collect.snapshot import load_bundle
    from diag.impact.replay import run_impact
    from diag.proof.change import Change
    from diag.store import open_db

    tmp = Path(tempfile.mkdtemp(prefix="bench-impact-"))
    db = args.db or tmp / "bench.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    con = open_db(db)
    t0 = time.perf_counter()
    load_bundle(con, read_bundle(_corpus.write_bundle(tmp / "bundle")))
    insert_successes(con, total=args.events, tenants=args.tenants)
    build = time.perf_counter() - t0
    key = _corpus.key_arn(0)
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableIAM",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{_corpus.KEY_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Apps",
                "Effect": "Allow",
                "Principal": {"AWS": [_corpus.role_arn(i) for i in range(12)]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
            },
        ],
    }
    change = [Change("key_policy", "set_document", target=key, document=doc)]
    t1, c1 = time.perf_counter(), time.process_time()
    rep = run_impact(con, change, days=60, new_access=False)
    replay_s, replay_cpu = time.perf_counter() - t1, time.process_time() - c1
    t2 = time.perf_counter()
    with_access = run_impact(con, change, days=60, new_access=True)
    total_s = time.perf_counter() - t2
    con.close()
    print(
        json.dumps(
            {
                "events": rep.events,
                "distinct_calls": rep.distinct_calls,
                "decision_keys": rep.decision_keys,
                "breaks": len(rep.breaks),
                "unchanged": rep.unchanged,
                "unexplained": len(rep.unexplained),
                "replay_seconds": round(replay_s, 3),
                "replay_cpu_seconds": round(replay_cpu, 3),
                "load_average_1m": round(__import__("os").getloadavg()[0], 1),
                "replay_with_new_access_seconds": round(total_s, 3),
                "removed_access_pairs": len(with_access.removed_access or []),
                "build_seconds": round(build, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
