"""The one engine-request builder (diag.diagnosis.engine_request): explain, check and impact ask the engine
the same question of the same call."""

from __future__ import annotations

from diag.collect.model import InForce
from diag.diagnosis.engine_request import inputs_from_inforce, request_for, request_from_record
from diag.diagnosis.facts import facts_from_record
from diag.policy.model import Layer

KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RECORD = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::222222222222:assumed-role/App/s",
        "accountId": "222222222222",
        "invokedBy": "s3.amazonaws.com",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::222222222222:role/App"}},
    },
    "eventTime": "2026-11-01T10:00:00Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Decrypt",
    "awsRegion": "us-east-1",
    "requestParameters": {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::b/k"}},
    "resources": [{"ARN": KEY, "type": "AWS::KMS::Key", "accountId": "111111111111"}],
}


def test_record_and_facts_give_one_request() -> None:
    facts = facts_from_record(RECORD, origin="event")
    a = request_for(facts, KEY, "111111111111")
    b = request_from_record(RECORD, resource=KEY, resource_account="111111111111", action="kms:Decrypt")
    assert a == b and a.context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"


def test_stated_context_replaces_the_records_keys_in_any_case() -> None:
    req = request_from_record(RECORD, resource=KEY, context={"KMS:VIASERVICE": "ec2.us-east-1.amazonaws.com"})
    vias = {k: v for k, v in req.context.items() if k.lower() == "kms:viaservice"}
    assert vias == {"KMS:VIASERVICE": "ec2.us-east-1.amazonaws.com"}


def test_request_without_a_record_from_the_facts() -> None:
    facts = facts_from_record(RECORD, origin="event")
    bare = facts.__class__(**{**facts.__dict__, "raw": None})
    req = request_for(bare, KEY, "111111111111", context={"aws:SourceIp": "10.0.0.1"})
    assert req.context["kms:EncryptionContext:aws:s3:arn"] == "arn:aws:s3:::b/k"
    assert req.context["aws:SourceIp"] == "10.0.0.1" and req.resource == KEY


def test_gaps_stay_gaps_and_a_service_caller_has_no_identity_layers() -> None:
    inf = InForce(at=None)  # nothing collected
    inputs = inputs_from_inforce(inf)
    assert inputs.identity_policies is None and not inputs.permission_boundary_known
    assert inputs.resource_policy_layer == Layer.KEY_POLICY and not inputs.resource_policy_known
    service = facts_from_record(
        {**RECORD, "userIdentity": {"type": "AWSService", "invokedBy": "events.amazonaws.com"}}, origin="event"
    )
    svc = inputs_from_inforce(inf, facts=service)
    assert svc.identity_policies == () and svc.permission_boundary_known and svc.scps == ()
