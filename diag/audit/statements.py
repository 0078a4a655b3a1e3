"""Small readers of policy statements shared by the audit rules: principals, accounts, actions and
conditions, and the commands that apply a fix. Actions are matched with the engine's own matcher
(``diag.policy.match.action_matches``: wildcards, case), never by string equality."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from diag import arn as arns
from diag.policy.match import action_matches
from diag.policy.parse import StatementSpec
from diag.shell import one_line

UNIQUE_ID_RE = re.compile(r"^(AROA|AIDA|AGPA|AIPA|ANPA|ASIA|AKIA)[A-Z0-9]{8,}$")
ACCOUNT_RE = arns.ACCOUNT_RE

# Cryptographic use of a key (what a consumer in another account needs).
USE_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
)
# Administration of a key: nobody in another account should hold these.
ADMIN_ACTIONS = (
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:CreateGrant",
    "kms:RevokeGrant",
    "kms:UpdateAlias",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:DisableKeyRotation",
    "kms:EnableKeyRotation",
    "kms:ImportKeyMaterial",
    "kms:DeleteImportedKeyMaterial",
    "kms:ReplicateKey",
    "kms:UpdatePrimaryRegion",
)
# Condition keys that pin a cross-account statement to a service path or a calling account.
SCOPING_KEYS = ("kms:viaservice", "kms:calleraccount")
# Condition keys that restrict a "*" principal to known accounts/organizations.
ACCOUNT_KEYS = (
    "kms:calleraccount",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalarn",
    "aws:sourceaccount",
)


def aws_principals(st: StatementSpec) -> list[str]:
    """The AWS principal values of a statement's Principal (not NotPrincipal); ``*`` for the wildcard."""
    if st.principal is None:
        return []
    out = ["*"] if st.principal.wildcard else []
    out.extend(v for t, v in st.principal.values if t == "AWS")
    return out


def principal_account(value: str) -> str | None:
    """The account of an AWS principal value (account ID, any IAM/STS ARN); None for ``*`` or a unique ID."""
    if ACCOUNT_RE.match(value):
        return value
    account = arns.account_of(value)
    return account if account and ACCOUNT_RE.match(account) else None


def foreign_accounts(st: StatementSpec, own_account: str | None) -> list[str]:
    """The accounts other than ``own_account`` whose principals the statement names (sorted, unique)."""
    return sorted({a for v in aws_principals(st) if (a := principal_account(v)) is not None and a != own_account})


def is_account_root(value: str) -> bool:
    """``123456789012`` or ``arn:aws:iam::123456789012:root``: the whole account, delegated to its IAM."""
    return arns.is_account_principal(value)


def matched_actions(st: StatementSpec, candidates: Iterable[str]) -> list[str]:
    """The candidate actions that the statement's Action (or NotAction) covers."""
    out = []
    for a in candidates:
        if st.actions is not None:
            hit = any(action_matches(p, a) for p in st.actions)
        else:
            hit = not any(action_matches(p, a) for p in st.not_actions or ())
        if hit:
            out.append(a)
    return out


def is_full_wildcard(st: StatementSpec) -> bool:
    """The statement grants every KMS action (``kms:*``, ``*``, or a NotAction that leaves them all)."""
    return len(matched_actions(st, (*USE_ACTIONS, *ADMIN_ACTIONS))) == len(USE_ACTIONS) + len(ADMIN_ACTIONS)


def condition_keys(st: StatementSpec) -> set[str]:
    return {c.key_lower for c in st.conditions}


def has_any_condition(st: StatementSpec, keys: Iterable[str]) -> bool:
    found = condition_keys(st)
    return any(k in found for k in keys)


def label(st: StatementSpec) -> str:
    return f"statement #{st.index}" + (f" (Sid {st.sid!r})" if st.sid else "")


def key_policy_commands(key_arn: str, account: str, region: str) -> tuple[str, ...]:
    q = shlex.quote
    return (
        f"aws kms get-key-policy --key-id {q(key_arn)} --policy-name default --region {q(region)}"
        " --query Policy --output text > key-policy.json  # in account " + one_line(account),
        "# edit key-policy.json as shown, then:",
        f"aws kms put-key-policy --key-id {q(key_arn)} --policy-name default --region {q(region)}"
        " --policy file://key-policy.json",
    )
