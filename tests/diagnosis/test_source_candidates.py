"""The values to compare with an aws:SourceArn condition of a refused AWS service principal
(diag.diagnosis.callers.source_candidates): the service's rules, trails, topics, alarms from their
create/update records; the CloudTrail User Guide's own UpdateTrail record, and the inference that lists them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from diag.diagnosis.callers import source_candidates
from diag.rules._undetermined import _candidates_sentence, _fix_summary, _named_by

from .builders import facts
from .dbutil import insert_record

REAL = Path(__file__).resolve().parent.parent / "data" / "real_records" / "aws-cloudtrail-user-guide"
TRAIL = "arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2"


def _db(tmp_path: Path) -> Any:
    from diag.store.connection import open_db

    return open_db(tmp_path / "c.duckdb")


def _svc(service: str, when: dt.datetime) -> Any:
    return facts(
        caller_type="AWSService",
        caller_arn=None,
        principal_arn=None,
        invoked_by=service,
        event_time=when,
        key_arn="arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )


def test_the_guides_refused_update_trail_is_no_candidate_and_a_successful_one_is(tmp_path: Path) -> None:
    from diag.cli.app import main

    db = tmp_path / "c.duckdb"
    real = REAL / "cloudtrail-log-file-examples__8.json"  # UpdateTrail refused with TrailNotFoundException
    assert main(["ingest", "--db", str(db), "--quiet", str(real)]) == 0
    con = _db(tmp_path)
    after = dt.datetime(2016, 7, 15)
    assert source_candidates(con, _svc("cloudtrail.amazonaws.com", after)) == []  # the trail did not exist
    doc = json.loads(real.read_text(encoding="utf-8"))
    ok = dict(doc["Records"][0] if "Records" in doc else doc)
    for k in ("errorCode", "errorMessage"):
        ok.pop(k)
    ok["eventID"] = "0d3a4c4e-0000-4000-8000-000000000001"
    insert_record(con, ok)
    found = source_candidates(con, _svc("cloudtrail.amazonaws.com", after))
    assert [(c["arn"], c["event"], c["account"]) for c in found] == [(TRAIL, "UpdateTrail", "123456789012")]
    assert source_candidates(con, _svc("cloudtrail.amazonaws.com", dt.datetime(2016, 7, 13))) == []  # not yet
    assert source_candidates(con, _svc("events.amazonaws.com", after)) == []  # another service
    assert source_candidates(con, facts(invoked_by="cloudtrail.amazonaws.com")) == []  # not a service principal
    con.close()


def test_put_rule_and_put_metric_alarm_arns(tmp_path: Path) -> None:
    con = _db(tmp_path)
    base = {
        "eventVersion": "1.09",
        "awsRegion": "us-east-1",
        "recipientAccountId": "344511177088",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::344511177088:user/ops", "accountId": "344511177088"},
    }
    rule = "arn:aws:events:us-east-1:344511177088:rule/orders-created"
    for i, (source, name, req, resp) in enumerate(
        (
            ("events.amazonaws.com", "PutRule", {"name": "orders-created"}, {"ruleArn": rule}),
            ("monitoring.amazonaws.com", "PutMetricAlarm", {"alarmName": "queue-depth"}, None),
            ("events.amazonaws.com", "PutRule", {"name": "x"}, {"ruleArn": "not an arn"}),
        )
    ):
        insert_record(
            con,
            {
                **base,
                "eventID": f"e{i}",
                "eventTime": f"2026-11-28T09:0{i}:00Z",
                "eventSource": source,
                "eventName": name,
                "requestParameters": req,
                "responseElements": resp,
            },
        )
    when = dt.datetime(2026, 11, 28, 10)
    assert [c["arn"] for c in source_candidates(con, _svc("events.amazonaws.com", when))] == [rule]
    alarms = source_candidates(con, _svc("cloudwatch.amazonaws.com", when))
    assert [c["arn"] for c in alarms] == ["arn:aws:cloudwatch:us-east-1:344511177088:alarm:queue-depth"]
    con.close()


def test_the_inference_names_the_candidates_the_condition_does_not_name() -> None:
    old = "arn:aws:events:us-east-1:344511177088:rule/order-created"
    new = "arn:aws:events:us-east-1:344511177088:rule/orders-created"
    expected = {"aws:SourceArn": [old]}
    cands: list[dict[str, object]] = [
        {"arn": new, "account": "344511177088", "event": "PutRule", "at": dt.datetime(2026, 11, 28, 7, 26)},
        {"arn": old, "account": "344511177088", "event": "PutRule", "at": dt.datetime(2026, 1, 2)},
    ]
    assert not _named_by(cands[0], expected) and _named_by(cands[1], expected)
    assert _named_by(cands[0], {"aws:SourceAccount": ["344511177088"]})
    text = _candidates_sentence(cands, expected)
    assert f"`{new}` (PutRule at 2026-11-28 07:26:00 UTC, not named by the condition)" in text
    assert f"`{old}` (PutRule at 2026-01-02 00:00:00 UTC, named by the condition)" in text
    assert new in _fix_summary("events.amazonaws.com", cands, expected)
    assert _candidates_sentence([], expected) == ""
