"""`watch` announces a cross-account failure once, although both accounts' trails logged it.

The two copies share a ``sharedEventID`` (the caller's copy names the role; the key owner's copy has an
``AWSAccount`` identity with no ARN). The report counts such a call once; watch must print one line and
POST once, whether the copies arrive in the same cycle or in different cycles.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from diag.ingest.remote.blob import default_ingester
from diag.store import open_db
from diag.watch import Watcher, iter_lines
from tests.remote.test_watch import RecordingDiagnose, webhook  # noqa: F401 - the fixture is used by name

OWNER = "111111111111"
CALLER = "222222222222"
KEY = f"arn:aws:kms:eu-west-1:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _copies(n: int, minute: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The caller's and the key owner's copy of one cross-account Decrypt refused because the key is disabled
    (shaped like the records in AWS's documentation and ../shared/real_events)."""
    base = {
        "eventVersion": "1.09",
        "eventTime": f"2026-11-28T10:{minute:02d}:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "10.0.0.1",
        "userAgent": "aws-sdk-java/2.20",
        "errorCode": "DisabledException",
        "errorMessage": f"{KEY} is disabled.",
        "requestParameters": {"keyId": KEY, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": None,
        "requestID": f"req-{n}",
        "readOnly": True,
        "resources": [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": KEY}],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "eventCategory": "Management",
        "sharedEventID": f"shared-{n}",
    }
    caller = {
        **base,
        "eventID": f"caller-copy-{n}",
        "recipientAccountId": CALLER,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:etl",
            "arn": f"arn:aws:sts::{CALLER}:assumed-role/DataProcessingRole/etl",
            "accountId": CALLER,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": f"arn:aws:iam::{CALLER}:role/DataProcessingRole",
                    "accountId": CALLER,
                    "userName": "DataProcessingRole",
                }
            },
        },
    }
    owner = {
        **base,
        "eventID": f"owner-copy-{n}",
        "recipientAccountId": OWNER,
        "userIdentity": {"type": "AWSAccount", "principalId": "AROAEXAMPLE:etl", "accountId": CALLER},
    }
    return caller, owner


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"Records": records}))
    return path


def _cycle(db: Path, out: io.StringIO, url: str) -> int:
    w = Watcher(
        db,
        lambda con, now, stop: [],
        ingester=default_ingester(workers=1),
        diagnose=RecordingDiagnose(),  # diagnoses every copy it is given: watch alone must deduplicate
        interval=0.01,
        webhook=url,
        out=out,
    )
    return w.run(max_cycles=1)


def test_one_line_and_one_post_per_cross_account_failure(
    tmp_path: Path,
    db_path: Path,
    run_cli: Any,
    webhook: tuple[str, list[dict[str, Any]]],  # noqa: F811
) -> None:
    url, posted = webhook
    out = io.StringIO()
    assert _cycle(db_path, out, url) == 0  # sets the baseline on an empty database
    # cycle 1: both copies of call 1 arrive together, and the owner's copy of call 2
    c1, o1 = _copies(1, 1)
    c2, o2 = _copies(2, 2)
    code, _, err = run_cli("--db", db_path, "-q", "ingest", _write(tmp_path / "a.json", [c1, o1, o2]))
    assert code == 0, err
    assert _cycle(db_path, out, url) == 2
    # cycle 2: the caller's copy of call 2 arrives late (another trail, another delivery)
    code, _, err = run_cli("--db", db_path, "-q", "ingest", _write(tmp_path / "b.json", [c2]))
    assert code == 0, err
    assert _cycle(db_path, out, url) == 0
    lines = list(iter_lines(out.getvalue()))
    assert [x["event"]["event_id"] for x in lines] == ["caller-copy-1", "owner-copy-2"]
    assert [x["event"]["shared_event_id"] for x in lines] == ["shared-1", "shared-2"]
    assert [p["event"]["event_id"] for p in posted] == ["caller-copy-1", "owner-copy-2"]
    # as many lines as the report counts failures
    con = open_db(db_path, read_only=True)
    assert con.execute("SELECT count(*) FROM failures").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM events WHERE error_code IS NOT NULL").fetchone() == (4,)
    con.close()
