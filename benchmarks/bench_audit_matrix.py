"""The audit's "who can use each key" matrix (``diag.audit.matrix.compute_matrix``): keys × roles × 8 actions.

Builds one snapshot (tests/audit/bundles.py's AWS-CLI-shaped bundle, loaded by the collection's own
reader): ``--keys`` keys in 111111111111, each key policy with root delegation, a statement naming 30 of
the roles (half of the keys through ``kms:ViaService`` s3), a read-only statement for the other account's
root, and a grant for every fifth key; ``--roles`` roles spread over 111111111111 and 222222222222, each
with one inline policy (kms:* on every key, Decrypt/GenerateDataKey on some keys, or a ViaService-limited
Decrypt). Then times ``compute_matrix`` in-process (the database open and the audit context loaded once
outside the timing), median of ``--runs``, and prints the figures as JSON: seconds, decisions asked of the
engine per second, and (``--scale``) the same at 3× the roles, CPU seconds per key × role pair.

``--reference [NAME=]DIR`` (repeatable): a source tree of another kmsdiag version (e.g. ``git archive`` of
a commit) to time in the same run, interleaved, for a ratio: each variant runs in its own child process,
and every variant's rows must be the same (``same_rows_as_first_variant``). The figures in
docs/performance.md use ``previous=`` the version before decision keys (``git archive ceb35f7``, main
before the matrix's first speed-up) and ``main=`` the version this branch started from.

    python benchmarks/bench_audit_matrix.py [--keys 20] [--roles 100] [--runs 3] [--scale] \
        [--reference previous=/tmp/ceb35f7] [--reference main=/tmp/main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def build(path: Path, keys: int, roles: int) -> None:
    sys.path.insert(0, str(REPO))
    from diag.store import open_db
    from tests.audit.bundles import BundleBuilder, grant, policy, root_statement

    key_acct, caller_acct = "111111111111", "222222222222"
    b = BundleBuilder()
    role_arns = [f"arn:aws:iam::{(key_acct, caller_acct)[i % 2]}:role/App{i:04d}" for i in range(roles)]
    key_ids = [f"{k:08d}-1111-2222-3333-444444444444" for k in range(keys)]
    key_arns = [f"arn:aws:kms:us-east-1:{key_acct}:key/{kid}" for kid in key_ids]
    for k, kid in enumerate(key_ids):
        named = [role_arns[(k * 7 + j * 3) % roles] for j in range(min(30, roles))]
        users: dict[str, Any] = {
            "Sid": "Apps",
            "Effect": "Allow",
            "Principal": {"AWS": named},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:DescribeKey"],
            "Resource": "*",
        }
        if k % 2:
            users["Condition"] = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
        b.key(
            kid,
            policy_doc=policy(
                root_statement(),
                users,
                {
                    "Sid": "PartnerRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                    "Action": ["kms:Decrypt", "kms:DescribeKey"],
                    "Resource": "*",
                },
            ),
            grants=[grant(role_arns[k % roles], ["Decrypt", "GenerateDataKey"])] if k % 5 == 0 else None,
        )
    for i, arn in enumerate(role_arns):
        if i % 3 == 0:
            doc = policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
        elif i % 3 == 1:
            doc = policy(
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arns[i % keys]}
            )
        else:
            doc = policy(
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                }
            )
        b.role(arn.rsplit("/", 1)[-1], account=arn.split(":")[4], inline={"kms": doc})
    con = open_db(path)
    b.load(con, Path(tempfile.mkdtemp(prefix="bench-matrix-bundle-")))
    con.close()


CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from diag.audit.context import AuditContext
from diag.audit.matrix import compute_matrix
from diag.store import open_db
con = open_db(sys.argv[2], read_only=True)
ctx = AuditContext.load(con)
t0 = time.perf_counter(); c0 = time.process_time()
mx = compute_matrix(ctx)
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
rows = sorted((k.key_arn, p.principal, p.direct, sorted(p.via.items())) for k in mx.keys for p in k.principals)
print(json.dumps({"wall": wall, "cpu": cpu, "full": mx.full_evaluations, "rows": len(rows),
                  "digest": hash(json.dumps(rows, default=list)) }))
"""


def run_child(tree: Path, db: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(db)], capture_output=True, text=True, check=True, env=env
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(trees: dict[str, Path], db: Path, runs: int) -> dict[str, Any]:
    res: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(runs):
        for name, tree in trees.items():
            res[name].append(run_child(tree, db))
    out: dict[str, Any] = {}
    for name, rs in res.items():
        out[name] = {
            "wall_s": round(statistics.median(r["wall"] for r in rs), 3),
            "cpu_s": round(statistics.median(r["cpu"] for r in rs), 3),
            "rows": rs[0]["rows"],
            "same_rows_as_first_variant": rs[0]["digest"] == next(iter(res.values()))[0]["digest"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--roles", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", action="store_true", help="also 3x the roles (CPU per key x role pair)")
    ap.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="another kmsdiag source tree, timed interleaved (repeatable)",
    )
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-matrix-"))
    trees: dict[str, Path] = {}
    for i, ref in enumerate(args.reference):
        name, _, path = ref.rpartition("=")
        trees[name or ("reference" if i == 0 else f"reference{i + 1}")] = Path(path)
    trees["this"] = REPO
    db = tmp / "m.duckdb"
    build(db, args.keys, args.roles)
    fig: dict[str, Any] = {"keys": args.keys, "roles": args.roles, "actions": 8, "loadavg_1m": os.getloadavg()[0]}
    fig["1x"] = measure(trees, db, args.runs)
    refs = [name for name in trees if name != "this"]
    for name in refs:
        fig[f"speedup_cpu_vs_{name}"] = round(fig["1x"][name]["cpu_s"] / fig["1x"]["this"]["cpu_s"], 2)
        fig[f"speedup_wall_vs_{name}"] = round(fig["1x"][name]["wall_s"] / fig["1x"]["this"]["wall_s"], 2)
    if args.scale:
        db3 = tmp / "m3.duckdb"
        build(db3, args.keys, 3 * args.roles)
        fig["3x_roles"] = measure(trees, db3, 1)
        for name in refs:
            fig[f"3x_speedup_cpu_vs_{name}"] = round(
                fig["3x_roles"][name]["cpu_s"] / fig["3x_roles"]["this"]["cpu_s"], 2
            )
        fig["cpu_ms_per_pair"] = {
            name: [
                round(1000 * fig["1x"][name]["cpu_s"] / (args.keys * args.roles), 3),
                round(1000 * fig["3x_roles"][name]["cpu_s"] / (args.keys * 3 * args.roles), 3),
            ]
            for name in trees
        }
    print(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
