"""``aws:CalledVia``, ``aws:CalledViaFirst`` and ``aws:CalledViaLast`` exactly as AWS sets them.

IAM User Guide, "AWS global condition context keys", aws:CalledVia
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-calledvia):
the keys are present only when a service that supports ``aws:CalledVia`` (the "CalledVia services": Amazon
Athena, AWS CloudFormation, Amazon DynamoDB, AWS KMS) uses the credentials of an IAM principal to call
another service. They are absent when the principal calls directly, when the service uses a service role
or a service-linked role (and for a service principal's own call), and for every other service, which
``aws:ViaAWSService`` covers instead.
"""

from __future__ import annotations

from diag.diagnosis.model import EventFacts
from diag.policy.context import UNDETERMINED

CALLED_VIA_NAMES = ("aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast")
CALLED_VIA_KEYS = tuple(k.lower() for k in CALLED_VIA_NAMES)
CALLED_VIA_SERVICES = frozenset(
    {"athena.amazonaws.com", "cloudformation.amazonaws.com", "dynamodb.amazonaws.com", "kms.amazonaws.com"}
)


def called_via(service: str | None, facts: EventFacts) -> dict[str, str | list[str] | None]:
    """``aws:CalledVia``, ``aws:CalledViaFirst`` and ``aws:CalledViaLast`` as AWS sets them (None: absent).

    Per the IAM User Guide they are present only when a service that supports ``aws:CalledVia`` (Athena,
    CloudFormation, DynamoDB, KMS) used the credentials of an IAM principal to call another service;
    absent for a direct call, for a service's own call (a service principal, a service role or a
    service-linked role), and for any other service. CloudTrail records the service that made the call
    (``invokedBy``): it is ``aws:CalledViaLast``. The chain before it is not recorded, and the guide's own
    example chain is CloudFormation → DynamoDB → KMS, so for a call via DynamoDB, Athena or KMS the whole
    list and its first element are undetermined; CloudFormation is documented only as a chain's first
    service, so a call via CloudFormation has the chain [CloudFormation]."""
    absent: dict[str, str | list[str] | None] = dict.fromkeys(CALLED_VIA_NAMES)
    if not service or facts.caller_type == "AWSService" or service.lower() not in CALLED_VIA_SERVICES:
        return absent
    if ":role/aws-service-role/" in (facts.principal_arn or ""):
        return absent  # a service-linked role's session
    svc = service.lower()
    first: str | list[str] = svc if svc == "cloudformation.amazonaws.com" else UNDETERMINED
    chain: str | list[str] = [svc] if svc == "cloudformation.amazonaws.com" else UNDETERMINED
    return {"aws:CalledVia": chain, "aws:CalledViaFirst": first, "aws:CalledViaLast": svc}


def exact_called_via(ctx: dict[str, str | list[str]], facts: EventFacts) -> None:
    """Replace the record's ``aws:CalledVia*`` (any service that invoked) with ``called_via``'s values."""
    last = next((v for k, v in ctx.items() if k.lower() == "aws:calledvialast"), None)
    service = last if isinstance(last, str) else facts.invoked_by
    for k in [k for k in ctx if k.lower() in CALLED_VIA_KEYS]:
        del ctx[k]
    for k, v in called_via(service, facts).items():
        if v is not None:
            ctx[k] = v
