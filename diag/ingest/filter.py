"""Which CloudTrail records kmsdiag keeps (pure).

Kept, success and failure alike: every KMS and S3 event; IAM changes (roles, users, groups, policies,
boundaries: everything that is not a read); STS AssumeRole* and GetFederationToken (who became whom);
Organizations policy and structure changes (SCPs/RCPs, attachments, accounts moving between OUs); the
create/update records of the resources for which AWS services call KMS with ``aws:SourceArn`` (EventBridge
rules, CloudTrail trails, SNS topics, CloudWatch alarms: ``diag.diagnosis.callers.source_candidates``).
Everything else is counted as skipped and not stored.
"""

from __future__ import annotations

from typing import Any

KMS = "kms.amazonaws.com"
S3 = "s3.amazonaws.com"
IAM = "iam.amazonaws.com"
STS = "sts.amazonaws.com"
ORGANIZATIONS = "organizations.amazonaws.com"

ALWAYS_KEPT_SOURCES = frozenset({KMS, S3})
IAM_READ_PREFIXES = ("Get", "List", "Describe", "Generate", "Simulate")
STS_KEPT = frozenset(
    {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot", "GetFederationToken"}
)
ORGANIZATIONS_KEPT = frozenset(
    {
        "CreatePolicy",
        "UpdatePolicy",
        "DeletePolicy",
        "AttachPolicy",
        "DetachPolicy",
        "EnablePolicyType",
        "DisablePolicyType",
        "MoveAccount",
        "CreateAccount",
        "InviteAccountToOrganization",
        "AcceptHandshake",
        "RemoveAccountFromOrganization",
        "LeaveOrganization",
        "CreateOrganizationalUnit",
        "DeleteOrganizationalUnit",
    }
)

SOURCE_RESOURCE_KEPT = {
    "events.amazonaws.com": frozenset({"PutRule"}),
    "cloudtrail.amazonaws.com": frozenset({"CreateTrail", "UpdateTrail"}),
    "sns.amazonaws.com": frozenset({"CreateTopic", "SetTopicAttributes"}),
    "monitoring.amazonaws.com": frozenset({"PutMetricAlarm", "PutCompositeAlarm"}),
}


def keep(event_source: object, event_name: object) -> bool:
    """True when an event with this source and name is stored (anything not a string: not stored)."""
    if not isinstance(event_source, str):
        return False
    if event_source in ALWAYS_KEPT_SOURCES:
        return True
    if not isinstance(event_name, str):
        return False
    if event_source == IAM:
        return not event_name.startswith(IAM_READ_PREFIXES)
    if event_source == STS:
        return event_name in STS_KEPT
    if event_source == ORGANIZATIONS:
        return event_name in ORGANIZATIONS_KEPT
    return event_name in SOURCE_RESOURCE_KEPT.get(event_source, ())


def keep_record(record: dict[str, Any]) -> bool:
    """True when ``record`` is stored (see the module docstring)."""
    return keep(record.get("eventSource"), record.get("eventName"))
