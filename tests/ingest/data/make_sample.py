"""Regenerate the tiny sample trails used by the ingest and demo tests (deterministic).

    python tests/ingest/data/make_sample.py

Two scenarios in the sample_trails/ layout (DESIGN.md section 8), trails only:
- guide-walkthrough: 222222222222's DataProcessingRole decrypts with 111111111111's key; one call succeeds
  (logged in both accounts, one sharedEventID), one is denied (logged only in the caller's account);
  noise events, a duplicate delivery, and a digest file.
- alias-and-policy-change: an IAM user's GenerateDataKey naming an alias, and a PutKeyPolicy by root.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.ingest.ctdata import (  # noqa: E402
    CALLER,
    OWNER,
    kms_record,
    new_id,
    noise_record,
    write_digest,
    write_trail,
)

ROOT = HERE / "sample_trails"


def main() -> None:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    t0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    trails = ROOT / "guide-walkthrough" / "trails"
    shared = new_id(1000)
    ok = kms_record(event_id=new_id(1), when="2026-11-28T12:01:00Z", sharedEventID=shared)
    ok["requestID"] = new_id(2)
    owner = kms_record(
        event_id=new_id(3), identity="AWSAccount", recipient=OWNER, when="2026-11-28T12:01:00Z", sharedEventID=shared
    )
    owner["requestID"] = new_id(2)
    denied = kms_record(event_id=new_id(4), when="2026-11-28T12:07:00Z", error="AccessDenied")
    denied["requestID"] = new_id(5)
    noise = [noise_record(event_id=new_id(100 + i), n=i) for i in range(3)]
    for r in noise:
        r["requestID"] = new_id(200)
    write_trail(trails, [ok, *noise], account=CALLER, when=t0, rand="SampleA000000001")
    write_trail(trails, [denied, ok], account=CALLER, when=t0 + dt.timedelta(minutes=5), rand="SampleA000000002")
    write_trail(trails, [owner], account=OWNER, when=t0, rand="SampleB000000001")
    write_digest(trails, CALLER)

    trails2 = ROOT / "alias-and-policy-change" / "trails"
    gdk = kms_record(
        event_id=new_id(11), name="GenerateDataKey", identity="IAMUser", key_id="alias/app-data", recipient=OWNER
    )
    gdk["requestID"] = new_id(12)
    put = kms_record(event_id=new_id(13), name="PutKeyPolicy", identity="Root", recipient=OWNER)
    put["requestID"] = new_id(14)
    put["readOnly"] = False
    write_trail(trails2, [gdk, put], account=OWNER, when=t0, rand="SampleC000000001")


if __name__ == "__main__":
    main()
