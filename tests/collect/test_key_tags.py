"""Key tags (diag.collect.key_tags): collected from a moto server run as a separate process, loaded into
``key_tags``, and moved to an event time with the AWS KMS developer guide's own TagResource, UntagResource
and CreateKey records (tests/data/real_records/aws-kms-developer-guide)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from diag.collect.key_tags import key_tags_at, transform_key_tags
from tests.diagnosis.dbutil import insert_record

REAL = Path(__file__).resolve().parent.parent / "data" / "real_records" / "aws-kms-developer-guide"
# The key of the guide's TagResource (21:19:25Z, Department=IT) and UntagResource (21:19:19Z, Dept) records.
GUIDE_KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DAY = dt.datetime(2020, 7, 1)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[Any]:
    from diag.store.connection import open_db

    c = open_db(tmp_path / "k.duckdb")
    yield c
    c.close()


def _snapshot(con: Any, sid: int, at: dt.datetime, key_arn: str, tags: dict[str, str]) -> None:
    con.execute(
        "INSERT INTO snapshots (snapshot_id, collected_at, source, loaded_at) VALUES (?, ?, 'bundle', ?)", [sid, at, at]
    )
    con.execute(
        "INSERT INTO key_tags (snapshot_id, account, region, key_arn, tags) VALUES (?, ?, ?, ?, ?)",
        [sid, key_arn.split(":")[4], key_arn.split(":")[3], key_arn, json.dumps(tags)],
    )


def _guide(con: Any, *names: str) -> None:
    for name in names:
        insert_record(con, json.loads((REAL / name).read_text(encoding="utf-8")))


def test_collected_from_a_moto_server_in_the_cli_shape_and_loaded(moto_process: str, con: Any) -> None:
    import boto3

    from diag.collect import kms
    from diag.collect.bundle import Bundle

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")

    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=moto_process)

    urllib.request.urlopen(urllib.request.Request(f"{moto_process}/moto-api/reset", method="POST")).read()
    k = client("kms", "us-east-1")
    key_id = k.create_key(Tags=[{"TagKey": "project", "TagValue": "atlas"}])["KeyMetadata"]["KeyId"]
    k.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "reporting"}])
    k.untag_resource(KeyId=key_id, TagKeys=["project"])
    bundle = Bundle(dt.datetime(2026, 12, 7))
    account = k.describe_key(KeyId=key_id)["KeyMetadata"]["AWSAccountId"]
    with ThreadPoolExecutor(2) as pool:
        kms.fetch_region(client, bundle, account, "us-east-1", pool)
    doc = bundle.get(f"{account}/kms/us-east-1/{key_id}/list-resource-tags.json")
    assert doc == {"Tags": [{"TagKey": "owner", "TagValue": "reporting"}], "Truncated": False}
    con.execute("INSERT INTO snapshots (snapshot_id, collected_at, source, loaded_at) VALUES (1, now(), 'live', now())")
    counts = kms.load_account(con, 1, bundle, account)
    assert counts["key_tags"] == 1
    arn = f"arn:aws:kms:us-east-1:{account}:key/{key_id}"
    found = key_tags_at(con, arn, None)
    assert found is not None and found.known == {"owner": "reporting"} and found.complete


def test_a_refused_list_resource_tags_is_a_gap_and_a_missing_file_is_not() -> None:
    from diag.collect import kms
    from diag.collect.bundle import Bundle

    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    bundle = Bundle(dt.datetime(2026, 12, 7))
    base = f"111122223333/kms/us-east-1/{key_id}"
    bundle.put(f"{base}/describe-key.json", {"KeyMetadata": {"KeyId": key_id, "AWSAccountId": "111122223333"}})
    bundle.put(f"{base}/get-key-policy.json", {"Policy": '{"Statement": []}', "PolicyName": "default"})
    bundle.put(f"{base}/list-grants.json", {"Grants": []})
    rows = kms.transform_account(bundle, "111122223333")
    assert rows["key_tags"] == [] and not [g for g in rows["gaps"] if g["what"] == "key_tags"]
    arn = f"arn:aws:kms:us-east-1:111122223333:key/{key_id}"
    bundle.error("111122223333", "kms list-resource-tags", arn, "AccessDeniedException", "no", "us-east-1")
    gaps = [g for g in kms.transform_account(bundle, "111122223333")["gaps"] if g["what"] == "key_tags"]
    assert len(gaps) == 1 and "aws kms list-resource-tags" in gaps[0]["how_to_collect"]
    assert transform_key_tags("1", "us-east-1", arn, {"Tags": "no"}) is None


def test_snapshot_before_the_event_moved_forward_by_the_guides_records(con: Any) -> None:
    _snapshot(con, 1, DAY, GUIDE_KEY, {"Dept": "Finance"})
    _guide(con, "ct-tagresource__0.json", "ct-untagresource__0.json")
    between = key_tags_at(con, GUIDE_KEY, DAY.replace(hour=21, minute=19, second=21))
    assert between is not None and between.known == {} and between.complete  # Dept untagged, Department not yet
    after = key_tags_at(con, GUIDE_KEY, DAY.replace(hour=22))
    assert after is not None and after.known == {"Department": "IT"} and after.complete
    assert "1 later tag record" in after.basis or "2 later tag record" in after.basis


def test_snapshot_after_the_event_moved_back(con: Any) -> None:
    _snapshot(con, 1, DAY + dt.timedelta(days=1), GUIDE_KEY, {"Department": "IT", "Owner": "ops"})
    _guide(con, "ct-tagresource__0.json")
    before = key_tags_at(con, GUIDE_KEY, DAY.replace(hour=20))
    assert before is not None
    assert before.known == {"Owner": "ops"} and before.unknown == {"Department"}  # set after the event: unknown


def test_records_alone_are_incomplete_and_a_createkey_record_is_a_whole_state(con: Any) -> None:
    _guide(con, "ct-tagresource__0.json")
    only = key_tags_at(con, GUIDE_KEY, DAY.replace(hour=22))
    assert only is not None and only.known == {"Department": "IT"} and not only.complete
    assert key_tags_at(con, GUIDE_KEY, DAY.replace(hour=20)) is None  # nothing known before the first record
    create = json.loads((REAL / "ct-createkey__2.json").read_text(encoding="utf-8"))
    insert_record(con, create)
    arn = create["responseElements"]["keyMetadata"]["arn"]
    created = key_tags_at(con, arn, dt.datetime(2030, 1, 1))
    assert created is not None and created.known == {} and created.complete  # "tags": [] at creation


def test_fill_context_reads_the_key_tag_and_s3_stays_undetermined(con: Any) -> None:
    from diag.diagnosis.request_context import collect_hint, fill_context
    from diag.policy.context import UNDETERMINED
    from diag.policy.model import NamedPolicy, PolicyInputs, Request
    from tests.diagnosis.builders import facts

    _snapshot(con, 1, DAY, GUIDE_KEY, {"Dept": "Finance"})
    _guide(con, "ct-tagresource__0.json", "ct-untagresource__0.json")
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/Department": "IT", "aws:ResourceTag/Dept": "x"}},
            }
        ],
    }
    inputs = PolicyInputs(identity_policies=(NamedPolicy(doc, "p"),))
    req = Request(principal="arn:aws:iam::111122223333:user/Alice", action="kms:Decrypt", resource=GUIDE_KEY)
    f = facts(key_arn=GUIDE_KEY, event_time=DAY.replace(hour=22))
    ctx = fill_context(req, inputs, f, con).context
    assert ctx["aws:resourcetag/department"] == "IT" and "aws:resourcetag/dept" not in ctx  # untagged: absent
    before = fill_context(req, inputs, facts(key_arn=GUIDE_KEY, event_time=DAY.replace(hour=20)), con).context
    assert "aws:resourcetag/department" not in before  # the snapshot (no Department) and no record yet
    s3 = fill_context(req, inputs, facts(key_arn=GUIDE_KEY, event_source="s3.amazonaws.com", bucket="b"), con)
    assert s3.context["aws:resourcetag/department"] == UNDETERMINED
    hint = collect_hint("aws:ResourceTag/Department", facts(event_source="s3.amazonaws.com", bucket="b"))
    assert "get-bucket-abac" in hint
