"""A refused S3 object stays listed with its reason in later runs (never counted as "already ingested"),
and the exit code is 3 only when nothing in scope could be stored (moto server over HTTP)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from tests.remote.conftest import ACCOUNT_A, BUCKET, TrailBucket, log_key

Run = Callable[..., tuple[int, str, str]]


def _ingest(run_cli: Run, db: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    code, out, err = run_cli("ingest", f"s3://{BUCKET}", "--account", ACCOUNT_A, "--db", db, "--json", *extra)
    return code, json.loads(out)["sources"][0] if out.strip() else {}, err


def test_a_new_bad_object_next_to_stored_ones_is_listed_and_exits_0(
    trail_bucket: TrailBucket, db_path: Path, run_cli: Run
) -> None:
    bad = trail_bucket.corrupt_keys[0]
    trail_bucket.client.delete_object(Bucket=BUCKET, Key=bad)  # first run: only good objects
    code, first, err = _ingest(run_cli, db_path)
    assert code == 0, err
    good = first["objects_fetched"]
    assert good > 0 and first["ingest"]["files_refused"] == 0
    # a corrupt object arrives: the run's only new object is bad, the good ones are stored already
    trail_bucket.client.put_object(Bucket=BUCKET, Key=bad, Body=b"\x1f\x8b\x08\x00truncated")
    code, second, err = _ingest(run_cli, db_path)
    assert code == 0, err
    assert second["objects_fetched"] == 1 and second["ingest"]["files_refused"] == 1
    assert second["skipped_known"] == good
    # later runs: not fetched again, still listed with its reason, not among the "already ingested"
    for _ in range(2):
        code, later, err = _ingest(run_cli, db_path)
        assert code == 0, err
        assert later["objects_fetched"] == 0 and later["skipped_known"] == good
        (listed,) = later["refused_unchanged"]
        assert listed["file"] == f"s3://{BUCKET}/{bad}" and "gzip" in listed["reason"]
    code, out, _ = run_cli("ingest", f"s3://{BUCKET}", "--account", ACCOUNT_A, "--db", db_path)
    assert code == 0 and "refused earlier" in out and bad.rsplit("/", 1)[1] in out


def test_only_bad_objects_in_scope_exit_3_every_time(trail_bucket: TrailBucket, db_path: Path, run_cli: Run) -> None:
    when = dt.datetime(2026, 12, 1, 10, 0)
    key = log_key(ACCOUNT_A, "us-east-1", when, "onlybad")
    trail_bucket.client.put_object(Bucket=BUCKET, Key=key, Body=b"not json at all")
    prefix = key.rsplit("/", 1)[0] + "/"
    for _ in range(2):  # the first run refuses it; the second still has nothing but it
        code, out, err = run_cli("ingest", f"s3://{BUCKET}/{prefix}", "--db", db_path, "--json")
        assert code == 3, err
