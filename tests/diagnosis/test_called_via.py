"""aws:CalledVia, aws:CalledViaFirst and aws:CalledViaLast exactly as the IAM User Guide describes them
(diag.diagnosis.called_via): present only for the "CalledVia services" acting with the principal's
credentials; the chain before the last service is not in CloudTrail."""

from __future__ import annotations

from diag.diagnosis.called_via import called_via
from diag.diagnosis.request_context import fill_context
from diag.policy.context import UNDETERMINED, request_from_event
from diag.policy.model import NamedPolicy, PolicyInputs

from .builders import facts

CFN = "cloudformation.amazonaws.com"
DDB = "dynamodb.amazonaws.com"


def test_direct_calls_other_services_and_service_principals_have_no_called_via() -> None:
    absent = {"aws:CalledVia": None, "aws:CalledViaFirst": None, "aws:CalledViaLast": None}
    assert called_via(None, facts()) == absent
    assert called_via("s3.amazonaws.com", facts(invoked_by="s3.amazonaws.com")) == absent
    assert called_via(CFN, facts(caller_type="AWSService", invoked_by=CFN)) == absent
    slr = "arn:aws:iam::222222222222:role/aws-service-role/dynamodb.amazonaws.com/AWSServiceRoleForDynamoDB"
    assert called_via(DDB, facts(principal_arn=slr, invoked_by=DDB)) == absent


def test_the_last_service_is_known_and_the_chain_before_it_is_not() -> None:
    via_ddb = called_via(DDB, facts(invoked_by=DDB))
    assert via_ddb["aws:CalledViaLast"] == DDB
    assert via_ddb["aws:CalledVia"] == UNDETERMINED and via_ddb["aws:CalledViaFirst"] == UNDETERMINED
    via_cfn = called_via(CFN, facts(invoked_by=CFN))
    assert via_cfn == {"aws:CalledVia": [CFN], "aws:CalledViaFirst": CFN, "aws:CalledViaLast": CFN}


def _record(invoked_by: str) -> dict[str, object]:
    return {
        "eventVersion": "1.09",
        "eventTime": "2026-11-28T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": invoked_by,
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::222222222222:assumed-role/app/s",
            "accountId": "222222222222",
            "invokedBy": invoked_by,
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::222222222222:role/app", "type": "Role"}},
        },
        "requestParameters": {},
        "resources": [{"ARN": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    }


def test_fill_context_replaces_what_the_record_alone_suggests() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": [CFN]}},
            }
        ],
    }
    inputs = PolicyInputs(identity_policies=(NamedPolicy(doc, "p"),))
    via_s3 = request_from_event(_record("s3.amazonaws.com"))
    assert via_s3 is not None and via_s3.context.get("aws:CalledVia") == ["s3.amazonaws.com"]
    filled = fill_context(via_s3, inputs, facts(invoked_by="s3.amazonaws.com"), None).context
    assert not any(k.lower().startswith("aws:calledvia") for k in filled)  # S3 is not a CalledVia service
    assert filled.get("kms:ViaService") == "s3.us-east-1.amazonaws.com"  # kms:ViaService is untouched
    via_ddb = request_from_event(_record(DDB))
    assert via_ddb is not None
    ctx = fill_context(via_ddb, inputs, facts(invoked_by=DDB), None).context
    assert ctx["aws:CalledVia"] == UNDETERMINED and ctx["aws:CalledViaLast"] == DDB
