"""Benchmark: `kmsdiag collect` of N KMS keys (default 500) against moto in server mode.

Starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (a free port), creates N keys (each with a key
policy, a grant and an alias) in one account reached through STS AssumeRole, then runs the live
collection exactly as `kmsdiag collect` does: rich progress bar on stderr, bounded thread pool, adaptive
retries. Prints wall time, keys/s, API calls and the highest number of calls in flight at once (which must
not exceed --workers). Also times `policies_in_force` on the resulting database.

    python benchmarks/bench_collect.py --keys 500 --workers 8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ACCOUNT = "111111111111"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(n: int) -> str:
    import boto3

    sts = boto3.client("sts", region_name=REGION)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/Collector", RoleSessionName="bench")["Credentials"]
    sess = boto3.Session(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], region_name=REGION)
    kms = sess.client("kms")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Use",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:role/App"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ],
    }
    key_arn = ""
    for i in range(n):
        meta = kms.create_key(Description=f"bench {i}", Policy=json.dumps(policy))["KeyMetadata"]
        kms.create_alias(AliasName=f"alias/bench-{i}", TargetKeyId=meta["KeyId"])
        kms.create_grant(
            KeyId=meta["KeyId"], GranteePrincipal="arn:aws:iam::222222222222:role/App", Operations=["Decrypt"]
        )
        key_arn = meta["Arn"]
    return key_arn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines over the progress bar

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    try:
        t0 = time.perf_counter()
        last_key = _seed(args.keys)
        seed_s = time.perf_counter() - t0

        from botocore.client import BaseClient

        from diag.collect.inforce import policies_in_force
        from diag.collect.live import collect_live
        from diag.config import AccountConfig, Config
        from diag.render.progress import collect_progress
        from diag.store import open_db

        lock = threading.Lock()
        state = {"in_flight": 0, "max": 0, "calls": 0}
        real = BaseClient._make_api_call

        def counted(self: Any, op: str, params: Any) -> Any:
            with lock:
                state["in_flight"] += 1
                state["calls"] += 1
                state["max"] = max(state["max"], state["in_flight"])
            try:
                return real(self, op, params)
            finally:
                with lock:
                    state["in_flight"] -= 1

        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        cfg = Config(
            accounts=(AccountConfig(account_id=ACCOUNT, role_arn=f"arn:aws:iam::{ACCOUNT}:role/Collector"),),
            regions=(REGION,),
            max_workers=args.workers,
            event_buckets=False,
        )
        with tempfile.TemporaryDirectory() as tmp:
            con = open_db(Path(tmp) / "bench.duckdb")
            t1 = time.perf_counter()
            with collect_progress(not args.quiet) as progress:  # as `kmsdiag collect` draws it
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile
                    import pstats

                    prof = cProfile.Profile()
                    result = prof.runcall(collect_live, con, cfg, out_dir=Path(tmp) / "bundle", progress=progress)
                    pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
                else:
                    result = collect_live(con, cfg, out_dir=Path(tmp) / "bundle", progress=progress)
            collect_s = time.perf_counter() - t1
            BaseClient._make_api_call = real  # type: ignore[method-assign]
            keys = con.execute("SELECT count(*) FROM keys WHERE snapshot_id = ?", [result.snapshot_id]).fetchone()[0]
            times = []
            for _ in range(20):
                t = time.perf_counter()
                policies_in_force(
                    con,
                    caller_arn="arn:aws:sts::222222222222:assumed-role/App/s",
                    caller_account="222222222222",
                    key_arn=last_key,
                )
                times.append(time.perf_counter() - t)
            con.close()
        print(
            json.dumps(
                {
                    "keys_created": args.keys,
                    "keys_collected": keys,
                    "workers": args.workers,
                    "seed_s": round(seed_s, 2),
                    "collect_s": round(collect_s, 2),
                    "keys_per_s": round(keys / collect_s, 1),
                    "api_calls": state["calls"],
                    "max_calls_in_flight": state["max"],
                    "policies_in_force_median_ms": round(statistics.median(times) * 1000, 2),
                },
                indent=2,
            )
        )
        return (
            0 if state["max"] <= args.workers + 1 else 1
        )  # +1: the main thread's own calls are sequential with the pool's
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
