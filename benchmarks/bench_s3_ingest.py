"""Ingest a synthetic corpus from an S3 trail bucket (moto server) vs the same files from local disk.

    python benchmarks/bench_s3_ingest.py --events 100000 [--corpus /tmp/corpus] [--repeat 1]

One run, same files: the corpus (benchmarks/gen_corpus.py) is written to disk and uploaded to a bucket
of a moto server running in its own process (an HTTP endpoint on 127.0.0.1, like S3 but local). Then,
each in a fresh process and a fresh database:

- ``local``: ``ingest_paths`` over the folder (the ceiling for the S3 path: same parsing, no network);
- ``fetch``: listing + concurrent download only (what the network part costs, nothing stored);
- ``s3``: ``sync_s3`` (list, download concurrently, stream into ``ingest_blobs``).

It prints events/s, MB/s, the s3/local ratio and peak memory (the process and its parser workers), and
checks that both databases hold the same events. moto serves S3 from Python, so the fetch figure is a
floor for real S3 (which serves many connections in parallel); quote the ratio, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUCKET = "bench-trail"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def upload(corpus: Path, endpoint: str) -> tuple[int, int]:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=16))
    s3.create_bucket(Bucket=BUCKET)
    files = [p for p in corpus.rglob("*") if p.is_file()]

    def put(p: Path) -> int:
        data = p.read_bytes()
        s3.put_object(Bucket=BUCKET, Key=p.relative_to(corpus).as_posix(), Body=data)
        return len(data)

    with ThreadPoolExecutor(16) as pool:
        sizes = list(pool.map(put, files))
    return len(files), sum(sizes)


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def phase(name: str, corpus: Path, endpoint: str, db: Path, concurrency: int) -> dict[str, Any]:
    """Run one measured phase in this (fresh) process; return its figures."""
    sys.path.insert(0, str(REPO))
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    from diag.ingest import ingest_paths
    from diag.ingest.remote.aws import make_client
    from diag.ingest.remote.blob import default_ingester
    from diag.ingest.sources.s3 import fetch_blobs, plan_s3, sync_s3
    from diag.ingest.sources.s3_layout import TrailScope, parse_s3_uri
    from diag.store import open_db

    client = make_client(None, "s3", region="us-east-1", pool=concurrency + 2)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"phase": name}
    if name == "fetch":
        plan = plan_s3(client, parse_s3_uri(f"s3://{BUCKET}"), TrailScope(), {})
        t_list = time.perf_counter() - t0
        n = size = 0
        for blob in fetch_blobs(client, BUCKET, plan.to_fetch, workers=concurrency):
            n += 1
            size += blob.size or 0
        result.update(objects=n, bytes=size, list_seconds=round(t_list, 3), prefixes=len(plan.prefixes_listed))
    else:
        con = open_db(db)
        if name == "local":
            summary = ingest_paths(con, [corpus]).to_dict()
        else:
            s3sum = sync_s3(
                con,
                f"s3://{BUCKET}",
                TrailScope(),
                client=client,
                ingester=default_ingester(),
                workers=concurrency,
                progress=False,
            )
            summary = s3sum.ingest
            result.update(objects=s3sum.objects_fetched, bytes=s3sum.bytes_fetched, prefixes=s3sum.prefixes_listed)
        events = con.execute("SELECT count(*), count(DISTINCT event_id), count(error_code) FROM events").fetchone()
        con.close()
        result.update(
            events_read=summary["events_read"],
            events_stored=events[0],
            failures=events[2],
            refused=summary["files_refused"],
        )
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["peak_mb"] = round(peak_mb(), 1)
    return result


def run_phase(name: str, corpus: Path, endpoint: str, work: Path, concurrency: int) -> dict[str, Any]:
    db = work / f"{name}.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--corpus",
            str(corpus),
            "--endpoint",
            endpoint,
            "--db",
            str(db),
            "--concurrency",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, help="corpus folder (generated there if empty)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    # moto only: fake credentials, never whatever the machine may have configured
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    if args.phase:
        print(json.dumps(phase(args.phase, args.corpus, args.endpoint, args.db, args.concurrency)))
        return

    work = Path(tempfile.mkdtemp(prefix="kmsdiag-bench-s3-"))
    corpus = args.corpus or work / "corpus"
    if not corpus.exists() or not any(corpus.iterdir()):
        sys.path.insert(0, str(REPO / "benchmarks"))
        from gen_corpus import generate

        t = time.perf_counter()
        generate(corpus, args.events)
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s into {corpus}", file=sys.stderr)
    moto, endpoint = start_moto()
    try:
        t = time.perf_counter()
        files, size = upload(corpus, endpoint)
        print(f"uploaded {files:,} objects ({size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        rows = []
        for _ in range(args.repeat):
            for name in ("local", "fetch", "s3"):
                rows.append(run_phase(name, corpus, endpoint, work, args.concurrency))
                print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        moto.terminate()
        moto.wait()

    def best(name: str) -> dict[str, Any]:
        return min((r for r in rows if r["phase"] == name), key=lambda r: r["seconds"])

    local, fetch, s3 = best("local"), best("fetch"), best("s3")
    assert local["events_stored"] == s3["events_stored"], "S3 and local ingests stored different events"
    mb = size / 1e6
    report = {
        "events_generated": args.events,
        "objects": files,
        "megabytes": round(mb, 1),
        "local": {
            **local,
            "events_per_s": round(local["events_read"] / local["seconds"]),
            "mb_per_s": round(mb / local["seconds"], 1),
        },
        "fetch_only": {
            **fetch,
            "mb_per_s": round(mb / fetch["seconds"], 1),
            "objects_per_s": round(fetch["objects"] / fetch["seconds"]),
        },
        "s3": {
            **s3,
            "events_per_s": round(s3["events_read"] / s3["seconds"]),
            "mb_per_s": round(mb / s3["seconds"], 1),
        },
        "s3_over_local_throughput": round(local["seconds"] / s3["seconds"], 2),
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
