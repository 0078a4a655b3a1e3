"""Honesty of answers: real error texts, successes, non-authorization failures, key state over time,
dates in every CloudTrail format, ingest normalization of real records (fixtures in tests/data/)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
CASES = json.loads((DATA / "error_texts" / "cases.json").read_text(encoding="utf-8"))
KMS_DOC = DATA / "real_records" / "aws-kms-developer-guide"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_error_text_forms_are_read(case: dict[str, Any]) -> None:
    from diag.errortext import parse_error

    parsed = parse_error(case["text"])
    assert parsed.recognized, case["id"]
    for field, want in case["expect"].items():
        got = getattr(parsed, field)
        if field == "service":
            got = parsed.service_prefix
        assert got == want, f"{case['id']}: {field} = {got!r}, expected {want!r}"


def test_go_v2_form_is_access_denied_exception_not_access_denied() -> None:
    from diag.errortext import parse_error

    case = next(c for c in CASES if c["id"] == "go-v2-kms-no-resource-policy")
    assert parse_error(case["text"]).error_code == "AccessDeniedException"


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    from diag.store import open_db

    db = tmp_path / "empty.duckdb"
    open_db(db).close()
    return db


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_error_text_answers_without_evidence(
    run_cli: Callable[..., tuple[int, str, str]], empty_db: Path, case: dict[str, Any]
) -> None:
    code, out, err = run_cli("explain", "--error", case["text"], "--db", empty_db, "--json")
    assert code == 0, f"{case['id']}: exit {code}: {err}"
    doc = json.loads(out)
    assert doc["outcome"] == "failed" and doc["based_on"]["record"].startswith("the error text")
    assert doc["decision"] in (None, "Unknown"), doc["decision"]
    if "verdict" in case:
        assert doc["verdict"] == case["verdict"]
    else:
        assert doc["verdict"] in ("UNKNOWN", "KEY_DISABLED", "OTHER_SERVICE"), doc["verdict"]
    for f in doc["findings"]:
        assert "probably fixed" not in f["summary"] and "collected policies allow" not in f["summary"]
        if f["code"] == "UNKNOWN" and doc["gaps"] == [] and not f["evidence"]["missing"]:
            assert "missing evidence" not in (f["fix"] or {}).get("summary", "")
    if case["expect"].get("claimed_layer"):
        assert doc["based_on"]["aws_message_claims"], "the layer AWS names is reported, as a claim"
    code, text, err = run_cli("explain", "--error", case["text"], "--db", empty_db)
    assert code == 0 and "None" not in text and "based on:" in text, text
    if case.get("verdict") == "OTHER_SERVICE":
        assert "kmsdiag explains KMS and S3 calls" in text and "describe-key" not in text
        # AWS did refuse it: the text never says no policy refused it, only that kmsdiag did not evaluate
        assert "no policy refused" not in text and "evaluates KMS and S3 calls only" in text


def _record(name: str) -> dict[str, Any]:
    return json.loads((KMS_DOC / f"{name}.json").read_text(encoding="utf-8"))


def _explain_file(run_cli: Callable[..., tuple[int, str, str]], db: Path, record: dict[str, Any], tmp: Path) -> Any:
    path = tmp / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    code, out, err = run_cli("explain", "--event-file", path, "--db", db, "--json")
    assert code == 0, err
    return json.loads(out)


def test_success_is_not_a_failure(run_cli: Callable[..., tuple[int, str, str]], empty_db: Path, tmp_path: Path) -> None:
    doc = _explain_file(run_cli, empty_db, _record("ct-sign__0"), tmp_path)
    assert doc["outcome"] == "succeeded" and doc["verdict"] is None and doc["findings"] == []
    assert doc["decision"] in (None, "Unknown") and doc["allowed_by"] == []
    path = tmp_path / "record.json"
    code, out, _ = run_cli("explain", "--event-file", path, "--db", empty_db)
    assert code == 0 and out.splitlines()[0].startswith("outcome: succeeded")
    for blank in ("", "200"):
        rec = {**_record("ct-sign__0"), "errorCode": blank}
        assert _explain_file(run_cli, empty_db, rec, tmp_path)["outcome"] == "succeeded"


@pytest.mark.parametrize(
    ("name", "code"),
    [("ct-decrypt__4", "CUSTOM_KEY_STORE_UNAVAILABLE"), ("ct-generatedatakeyplaintext__0", "KEY_USAGE_MISMATCH")],
)
def test_real_non_authorization_failures(
    run_cli: Callable[..., tuple[int, str, str]], empty_db: Path, tmp_path: Path, name: str, code: str
) -> None:
    doc = _explain_file(run_cli, empty_db, _record(name), tmp_path)
    assert doc["verdict"] == code and [f["code"] for f in doc["findings"]] == [code]


def test_xks_error_after_a_past_deletion_date_is_not_pending_deletion(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """The issue's story, on AWS's own examples: ScheduleKeyDeletion (deletion date "Nov 2, 2021, 11:25:25
    PM"), Sign and Verify with the key in March 2022, then an XKS proxy error in November 2022."""
    from diag.cli.app import main

    trail = tmp_path / "trail"
    trail.mkdir()
    records = [_record(n) for n in ("ct-createkey__1", "ct-schedule-key-deletion__2", "ct-sign__0", "ct-verify__0")]
    (trail / "records.json").write_text(json.dumps({"Records": records}), encoding="utf-8")
    db = tmp_path / "k.duckdb"
    assert main(["ingest", "--db", str(db), "--quiet", str(trail)]) == 0
    xks = _record("ct-decrypt__4")
    doc = _explain_file(run_cli, db, xks, tmp_path)
    assert doc["verdict"] == "CUSTOM_KEY_STORE_UNAVAILABLE", doc["findings"]
    assert "KEY_PENDING_DELETION" not in [f["code"] for f in doc["findings"]]
    # the same key refused for its state without a message: the history's deletion is contradicted by
    # the later Sign/Verify, so no deletion verdict is claimed
    state = {**xks, "eventTime": "2022-01-15T10:00:00Z", "errorMessage": None, "eventID": "x-1"}
    doc = _explain_file(run_cli, db, state, tmp_path)
    codes = [f["code"] for f in doc["findings"]]
    assert "KEY_PENDING_DELETION" not in codes and "KEY_NOT_FOUND" not in codes, doc["findings"]
    assert any("used successfully after the failure" in f["summary"] for f in doc["findings"])
    # after the last use: the history says deleted, but AWS answered about the key's state, so it existed
    doc = _explain_file(run_cli, db, {**state, "eventTime": "2022-06-15T10:00:00Z"}, tmp_path)
    assert "KEY_NOT_FOUND" not in [f["code"] for f in doc["findings"]], doc["findings"]
    # a NotFoundException after the deletion date: the key is gone, said as "deleted"
    gone = {**state, "eventTime": "2022-06-15T10:00:00Z", "errorCode": "NotFoundException"}
    doc = _explain_file(run_cli, db, gone, tmp_path)
    assert doc["verdict"] == "KEY_NOT_FOUND" and "deleted" in doc["findings"][0]["summary"], doc["findings"]


def test_deletion_date_in_the_past_means_deleted() -> None:
    from diag.collect.inforce import deleted_if_past as _deleted_if_past
    from diag.collect.model import KeyInfo

    key = KeyInfo(
        key_arn="arn:aws:kms:us-west-2:111122223333:key/k",
        key_id="k",
        account="111122223333",
        region="us-west-2",
        key_state="PendingDeletion",
        deletion_date=dt.datetime(2021, 11, 2, 23, 25, 25),
    )
    assert _deleted_if_past(key, dt.datetime(2021, 11, 1)) is key
    gone = _deleted_if_past(key, dt.datetime(2022, 11, 24))
    assert gone is not None and gone.key_state == "Deleted"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Nov 2, 2021, 11:25:25 PM", dt.datetime(2021, 11, 2, 23, 25, 25)),
        ("Apr 12, 2021 18:58:30 PM", dt.datetime(2021, 4, 12, 18, 58, 30)),
        ("2021-11-02T23:25:25Z", dt.datetime(2021, 11, 2, 23, 25, 25)),
        ("2021-11-02T23:25:25.500+01:00", dt.datetime(2021, 11, 2, 22, 25, 25, 500000)),
        (1635895525, dt.datetime(2021, 11, 2, 23, 25, 25)),
        (1635895525000, dt.datetime(2021, 11, 2, 23, 25, 25)),
        ("1635895525.0", dt.datetime(2021, 11, 2, 23, 25, 25)),
        ("not a date", None),
        ("", None),
        (True, None),
    ],
)
def test_every_cloudtrail_date_format(text: object, want: dt.datetime | None) -> None:
    from diag.collect.awsjson import parse_time
    from diag.diagnosis.facts import parse_time as facts_time
    from diag.ingest.normalize import parse_event_time

    assert parse_time(text) == want
    assert facts_time(text) == want
    if isinstance(text, str):
        assert parse_event_time(text) == want


def test_reencrypt_keeps_both_keys_and_blanks_are_null() -> None:
    from diag.ingest.normalize import normalize_record

    row = normalize_record(_record("ct-reencrypt__0"))
    assert row["reencrypt_source_key"] == "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert (
        row["reencrypt_destination_key"]
        == "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    )
    assert row["key_arn"] == row["reencrypt_destination_key"]
    blank = normalize_record(
        {**_record("ct-sign__0"), "errorCode": "", "userAgent": 7, "requestParameters": {"keyId": ""}}
    )
    assert blank["error_code"] is None and blank["user_agent"] is None and blank["key_id_given"] is None
    assert normalize_record({**_record("ct-sign__0"), "errorCode": 403})["error_code"] == "403"


def test_records_without_event_id_get_a_deterministic_synthetic_id() -> None:
    from diag.ingest.parse import synthetic_event_id

    old = {
        "eventVersion": "1.0",
        "eventTime": "2014-03-06T21:22:54Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "StartInstances",
        "awsRegion": "us-east-2",
    }
    a, b = synthetic_event_id(dict(old)), synthetic_event_id(dict(old))
    assert a is not None and a == b and a.startswith("kmsdiag-")
    assert synthetic_event_id({**old, "awsRegion": "us-west-2"}) != a
    assert synthetic_event_id({**old, "eventVersion": "1.08"}) is None  # a modern record without eventID is refused
    assert synthetic_event_id({"eventVersion": "1.0"}) is None


def test_success_with_known_policies_shows_what_allowed_it(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """A success is Allowed, with the statements that allowed it, only once every deciding layer is known: the
    session policy of an SSO role session is known from its AssumeRoleWithSAML record (until that record is
    ingested the layer is Unknown: a session policy passed then could have narrowed the role)."""
    import duckdb

    from diag.cli.app import main

    scenario = Path(__file__).resolve().parent.parent.parent / "sample_trails" / "24-key-disabled"
    db = tmp_path / "s.duckdb"
    assert main(["ingest", "--db", str(db), "--quiet", str(scenario / "trails")]) == 0
    assert main(["collect", "--db", str(db), "--quiet", "--from-dir", str(scenario / "bundle")]) == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT event_id, event_time, json_extract_string(raw, '$.userIdentity.accessKeyId'), caller_role_arn,"
            " caller_account, aws_region FROM events WHERE event_source = 'kms.amazonaws.com' AND error_code IS NULL"
            " AND event_name = 'Decrypt' AND caller_type = 'AssumedRole' ORDER BY event_time LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    event_id, when, key_id, role, account, region = row
    code, out, err = run_cli("explain", event_id, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["outcome"] == "succeeded" and doc["verdict"] is None and doc["decision"] == "Unknown"
    assert doc["based_on"]["layers_not_seen"] == ["session_policy"] and doc["allowed_by"] == []
    gap = next(g for g in doc["gaps"] if g["what"] == "session_policy")
    assert key_id in gap["reason"] and gap["collect"][0].startswith("kmsdiag ingest --lookup")
    # the STS record that issued the session, as CloudTrail writes it (no session policy passed)
    sts = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "SAMLUser", "principalId": "idp:maria", "userName": "maria"},
        "eventTime": (when - dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoleWithSAML",
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-internal/3",
        "requestParameters": {"roleArn": role, "principalArn": f"arn:aws:iam::{account}:saml-provider/AWSSSO"},
        "responseElements": {"credentials": {"accessKeyId": key_id, "expiration": "Dec 1, 2026, 1:00:00 AM"}},
        "requestID": "4d1c5a0e-1111-4e2b-9c3d-000000000001",
        "eventID": "4d1c5a0e-2222-4e2b-9c3d-000000000002",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }
    (tmp_path / "sts.json").write_text(json.dumps({"Records": [sts]}), encoding="utf-8")
    assert main(["ingest", "--db", str(db), "--quiet", str(tmp_path / "sts.json")]) == 0
    code, out, err = run_cli("explain", event_id, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["outcome"] == "succeeded" and doc["verdict"] is None and doc["decision"] == "Allowed"
    assert doc["based_on"]["layers_not_seen"] == []
    assert any(a["layer"] == "key_policy" and a["sid"] for a in doc["allowed_by"]), doc["allowed_by"]
    code, text, _ = run_cli("explain", event_id, "--db", db)
    assert text.splitlines()[0].startswith("outcome: succeeded") and "allowed by:" in text


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "typer"])
def test_closed_pipe_is_not_an_error(tmp_path: Path, fast: bool) -> None:
    """`kmsdiag explain … | head`: the reader is gone before kmsdiag writes; exit 0, nothing on stderr."""
    import os
    import subprocess
    import sys

    record = tmp_path / "r.json"
    record.write_text(json.dumps(_record("ct-sign__0")), encoding="utf-8")
    env = {**os.environ, "KMSDIAG_NO_FAST_PATH": "" if fast else "1", "COLUMNS": "80"}
    if fast:
        env.pop("KMSDIAG_NO_FAST_PATH")
    code = "import sys; from diag.cli.fast import main; main()"
    args = [sys.executable, "-c", code, "--db", str(tmp_path / "none.duckdb"), "explain", "--event-file", str(record)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone
    proc = subprocess.run(args, stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    os.close(write_end)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr and proc.stderr.strip() == b"", proc.stderr.decode()
