"""The verdict: the finding to act on first, by a fixed, documented order.

``RESOLVED_SINCE`` comes first: when the policies in force now allow the call, there is nothing left to
fix, whatever layer changed (a grant, the key policy, an IAM policy, a managed policy's default version,
an SCP); the causes at the time of the failure stay in the findings, in order. Then the order follows
AWS's own evaluation and what must be true before a policy change can help: an explicit Deny (it
overrides every Allow), then the state of the world (the key is in another region, gone, pending
deletion, disabled; an AWS-managed key that no policy can open; the wrong caller), then the
organization's guardrails and the bucket policy that S3 checks before calling KMS, then the resource
layer (the key policy, its history and its grants), then the conditions, then the caller's own policies.
``UNKNOWN`` comes only when nothing is proven. The README section "Verdict order" lists the same order (a
test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable

from diag.diagnosis.model import Finding

VERDICT_ORDER: tuple[str, ...] = (
    "RESOLVED_SINCE",
    "EXPLICIT_DENY",
    "WRONG_REGION",
    "KEY_NOT_FOUND",
    "KEY_PENDING_DELETION",
    "KEY_DISABLED",
    "KEY_STATE_OTHER",
    "CUSTOM_KEY_STORE_UNAVAILABLE",
    "KEY_USAGE_MISMATCH",
    "WRONG_KEY_FOR_CIPHERTEXT",
    "INVALID_CIPHERTEXT",
    "AWS_MANAGED_KEY_CROSS_ACCOUNT",
    "WRONG_ASSUMED_ROLE",
    "SCP_NO_ALLOW",
    "RCP_NO_ALLOW",
    "S3_BUCKET_POLICY_MISSING",
    "KEY_POLICY_OVERWRITTEN",
    "KEY_POLICY_PRINCIPAL_ORPHANED",
    "KEY_POLICY_PRINCIPAL_TYPO",
    "KEY_POLICY_ROOT_DELEGATION_MISSING",
    "KEY_POLICY_NO_PRINCIPAL",
    "KEY_POLICY_NO_ACTION",
    "CREATE_GRANT_MISSING",
    "GRANT_MISSING",
    "CONDITION_VIA_SERVICE",
    "CONDITION_ENCRYPTION_CONTEXT",
    "CONDITION_OTHER",
    "IAM_RESOURCE_MISMATCH",
    "IAM_POLICY_MISSING",
    "PERMISSION_BOUNDARY",
    "SESSION_POLICY",
    "NOT_ACCESS_FAILURE",
    "OTHER_SERVICE",
    "UNKNOWN",
    "RULE_ERROR",
)
_RANK = {code: i for i, code in enumerate(VERDICT_ORDER)}

#: The codes that are not refusals decided by the policies (docs/diagnosis-honesty.md, "Failures that are
#: not authorization refusals"): KMS authorized the call and then refused the request itself (a key state
#: other than disabled or pending deletion, key usage, wrong key, ciphertext, custom key store), the error
#: is not a refusal, the service is not one kmsdiag explains, or a rule failed.
NOT_AUTHORIZATION: frozenset[str] = frozenset(
    {
        "KEY_STATE_OTHER",
        "CUSTOM_KEY_STORE_UNAVAILABLE",
        "KEY_USAGE_MISMATCH",
        "WRONG_KEY_FOR_CIPHERTEXT",
        "INVALID_CIPHERTEXT",
        "NOT_ACCESS_FAILURE",
        "OTHER_SERVICE",
        "RULE_ERROR",
    }
)
#: Every other code, in verdict order: refusals that policies (conditions included) decided, the key
#: missing, disabled or pending deletion, ``RESOLVED_SINCE`` and ``UNKNOWN``. A non-authorization finding supersedes them all
#: (``diag.rules._nonauth``): AWS authorized the call before refusing it.
AUTH_CODES: tuple[str, ...] = tuple(code for code in VERDICT_ORDER if code not in NOT_AUTHORIZATION)


def rank(code: str) -> int:
    """Position of a code in the verdict order (codes added later without a rank sort just before UNKNOWN)."""
    return _RANK.get(code, _RANK["UNKNOWN"] - 1)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in verdict order; stable for findings of the same code."""
    return sorted(findings, key=lambda f: rank(f.code))


def choose_verdict(findings: list[Finding]) -> str:  # a success has no verdict: see diag.explain
    """The first finding's code in verdict order; ``UNKNOWN`` when there is none (or only rule errors)."""
    for f in sort_findings(findings):
        if f.code != "RULE_ERROR":
            return f.code
    return "UNKNOWN"
