"""Peak memory of `kmsdiag ingest` for one file, by its uncompressed size (the per-input limit at work).

    python benchmarks/bench_ingest_memory.py [--big-mb 1024] [--accepted-mb 64] [--out /tmp/kmsdiag-mem --reuse]

Writes gzip files of real-shaped CloudTrail records (KMS Decrypt, distinct eventIDs; they compress about
30:1, so a 1 GB file is ~35 MB on disk) and ingests each in a fresh process (`--workers 1`: parsing in
that process) with a fresh database, reading the peak RSS from ``getrusage(RUSAGE_CHILDREN)``:

- ``baseline``: a 1 MB file (what any ingest costs: interpreter, DuckDB);
- ``accepted``: ``--accepted-mb`` uncompressed, under the default limit: stored;
- ``big``: ``--big-mb`` uncompressed (default 1 GB), over the default limit (KMSDIAG_MAX_INPUT_MB, 128):
  refused after unpacking at most the limit, so its peak stays near the baseline.

Prints each case's size, outcome, seconds and peak RSS, and the ratio of each peak to the baseline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _record(i: int) -> bytes:
    return json.dumps(
        {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:app",
                "arn": "arn:aws:sts::111111111111:assumed-role/DataProcessingRole/app",
                "accountId": "111111111111",
            },
            "eventTime": f"2026-11-20T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": "Decrypt",
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "10.0.0.1",
            "userAgent": "aws-sdk-java/1.12.500",
            "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "responseElements": None,
            "requestID": f"req-{i:012d}",
            "eventID": f"00000000-0000-4000-8000-{i:012d}",
            "readOnly": True,
            "resources": [
                {
                    "accountId": "111111111111",
                    "type": "AWS::KMS::Key",
                    "ARN": "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                }
            ],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": "111111111111",
            "eventCategory": "Management",
        }
    ).encode()


def write_log_file(path: Path, uncompressed_mb: float) -> int:
    """A gzip CloudTrail log file of about ``uncompressed_mb`` MiB; returns its uncompressed bytes."""
    target = int(uncompressed_mb * (1 << 20))
    written = 0
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b'{"Records": [')
        written += 13
        i = 0
        batch: list[bytes] = []
        while written < target:
            rec = _record(i)
            batch.append((b"," if i else b"") + rec)
            written += len(rec) + 1
            i += 1
            if len(batch) >= 10_000:
                fh.write(b"".join(batch))
                batch.clear()
        fh.write(b"".join(batch) + b"]}")
    return written + 2


def run_case(path: Path, work: Path) -> tuple[int, dict[str, object], float, int]:
    """Ingest one file in a fresh process; return (exit code, summary, seconds, peak RSS of that child)."""
    db = work / f"{path.stem}.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSDIAG_")}
    env["PYTHONPATH"] = str(REPO)
    # One child at a time: RUSAGE_CHILDREN's ru_maxrss is the largest child's peak so far, so each case
    # runs in its own helper process that reports its single child's peak.
    code = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout.decode(), 'err': p.stderr.decode()[-2000:],"
        " 'kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    args = [sys.executable, "-m", "diag", "--db", str(db), "--json", "ingest", str(path), "--workers", "1"]
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, check=True)
    seconds = time.monotonic() - started
    doc = json.loads(res.stdout)
    summary = json.loads(doc["out"]) if doc["out"].strip() else {"error": doc["err"]}
    return int(doc["rc"]), summary, seconds, int(doc["kb"]) * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big-mb", type=float, default=1024.0)
    ap.add_argument("--accepted-mb", type=float, default=64.0)
    ap.add_argument("--out", type=Path, default=None, help="folder for the files (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="reuse the files an earlier run wrote to --out")
    a = ap.parse_args()
    work = a.out or Path(tempfile.mkdtemp(prefix="kmsdiag-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = [("baseline", 1.0), ("accepted", a.accepted_mb), ("big", a.big_mb)]
    rows = []
    for name, mb in cases:
        path = work / f"{name}.json.gz"
        for old in work.glob(f"{name}.json.duckdb*"):
            old.unlink()
        t = time.monotonic()
        sized = work / f"{name}.size"
        if a.reuse and path.exists() and sized.exists():
            size = int(sized.read_text())
        else:
            size = write_log_file(path, mb)
            sized.write_text(str(size))
        made = time.monotonic() - t
        rc, summary, seconds, peak = run_case(path, work)
        refused = summary.get("refused") or []
        outcome = f"refused: {refused[0]['reason']}" if refused else f"stored {summary.get('events_stored')} events"
        rows.append((name, size, path.stat().st_size, rc, outcome, seconds, peak))
        print(
            f"{name}: {size / 2**20:,.0f} MiB uncompressed ({path.stat().st_size / 2**20:,.1f} MiB gzip, "
            f"written in {made:.1f} s); exit {rc}; {outcome}; {seconds:.1f} s; peak RSS {peak / 2**20:,.0f} MiB"
        )
    base = rows[0][6]
    for name, *_rest, peak in rows:
        print(f"  {name}: peak RSS {peak / base:.2f}x the baseline's")


if __name__ == "__main__":
    main()
