"""Small shared pieces for rules: statement references for evidence, near-miss detection, edit commands."""

from __future__ import annotations

import re
from typing import Any

from diag import arn as arns
from diag import fixes
from diag.diagnosis.case import Case
from diag.policy.model import ConditionTrace, Layer, LayerResult, NamedPolicy, StatementTrace
from diag.shell import q

UNIQUE_ID_RE = re.compile(r"^(AROA|AIDA|AGPA|ANPA|AIPA)[A-Z0-9]{12,}$")
_DENIED = (LayerResult.IMPLICITLY_DENIED, LayerResult.EXPLICITLY_DENIED)


def denied(result: LayerResult | None) -> bool:
    return result in _DENIED


def stmt_ref(s: StatementTrace, why: str = "") -> dict[str, Any]:
    """Where a statement lives and what it says: layer, account, policy, Sid, index, the statement."""
    ref: dict[str, Any] = {
        "layer": str(s.layer),
        "account": s.account,
        "policy": s.policy_name,
        "policy_kind": s.policy_kind,
        "sid": s.sid,
        "index": s.index,
        "effect": s.effect,
        "statement": s.statement,
    }
    if why:
        ref["why"] = why
    return ref


def label(s: StatementTrace) -> str:
    """``statement "Sid" (#2) of key policy default`` for summaries."""
    sid = f'"{s.sid}" ' if s.sid else ""
    kinds = {
        Layer.KEY_POLICY: "the key policy",
        Layer.BUCKET_POLICY: "the bucket policy",
        Layer.IDENTITY: "identity policy",
        Layer.SCP: "SCP",
        Layer.RCP: "RCP",
        Layer.PERMISSION_BOUNDARY: "permissions boundary",
        Layer.SESSION_POLICY: "the session policy",
    }
    kind = kinds.get(s.layer, str(s.layer))
    name = "" if kind.startswith("the ") else f" {s.policy_name}" if s.policy_name else ""
    return f"statement {sid}(#{s.index}) of {kind}{name}"


def element_ok(s: StatementTrace, element: str) -> bool:
    trace = {"Action": s.action, "Resource": s.resource, "Principal": s.principal}[element]
    return trace is None or trace.matched


def conditions_ok(s: StatementTrace) -> bool:
    return all(c.matched for c in s.conditions)


def failed_conditions(s: StatementTrace) -> list[ConditionTrace]:
    """Conditions that did not hold (one on a key kmsdiag could not determine did not fail: it is unknown)."""
    return [c for c in s.conditions if not c.matched and not c.undetermined]


def allow_statements(case: Case, layer: Layer | str) -> list[StatementTrace]:
    return [s for t in case.traces(layer) for s in t.statements if s.effect == "Allow"]


def values(s: StatementTrace, element: str) -> list[str]:
    """The policy's values for ``element`` (from the trace, else from the statement as written)."""
    trace = {"Action": s.action, "Resource": s.resource, "Principal": s.principal}.get(element)
    if trace is not None and trace.policy_values:
        return list(trace.policy_values)
    raw = (s.statement or {}).get(element) or (s.statement or {}).get("Not" + element)
    return flatten(raw)


def flatten(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, dict):
        return [v for item in raw.values() for v in flatten(item)]
    if isinstance(raw, list | tuple):
        return [v for item in raw for v in flatten(item)]
    return [str(raw)]


def levenshtein(a: str, b: str, limit: int = 4) -> int:
    """Edit distance, giving up (returning ``limit + 1``) once it exceeds ``limit``: a banded dynamic
    program (only cells within ``limit`` of the diagonal), so comparing long ARNs stays cheap."""
    if a == b:
        return 0
    k = 0  # common prefix and suffix do not change the distance
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    a, b = a[k:], b[k:]
    k = 0
    while k < len(a) and k < len(b) and a[-1 - k] == b[-1 - k]:
        k += 1
    if k:
        a, b = a[:-k], b[:-k]
    n, m = len(a), len(b)
    if abs(n - m) > limit:
        return limit + 1
    big = limit + 1
    prev = {j: j for j in range(0, min(m, limit) + 1)}
    for i in range(1, n + 1):
        lo, hi = max(0, i - limit), min(m, i + limit)
        cur: dict[int, int] = {}
        if lo == 0:
            cur[0] = i
        ca = a[i - 1]
        for j in range(max(1, lo), hi + 1):
            best = prev.get(j - 1, big) + (ca != b[j - 1])
            up = prev.get(j, big) + 1
            left = cur.get(j - 1, big) + 1
            cur[j] = min(best, up, left, big)
        if min(cur.values()) > limit:
            return big
        prev = cur
    return min(prev.get(m, big), big)


def describe_difference(policy_value: str, caller: str) -> tuple[str, int] | None:
    """If ``policy_value`` is a near miss of ``caller`` (typo, case, one wrong digit in the account), a
    sentence saying how, and the edit distance; else None."""
    if policy_value == caller:
        return None
    if policy_value.lower() == caller.lower():
        return "differs only in letter case (IAM ARNs are case-sensitive in policies)", 0
    pa, ca = fixes.arn_account(policy_value), fixes.arn_account(caller)
    p_rest = arns.resource_of(policy_value) if pa else None
    c_rest = arns.resource_of(caller) if ca else None
    if pa and ca and pa != ca and p_rest == c_rest:
        d = levenshtein(pa, ca, 2)
        if d <= 2:
            return f"names account {pa} where the caller's account is {ca} ({d} digit(s) differ)", d
        return None
    d = levenshtein(policy_value, caller, 3)
    limit = 2 if len(caller) < 40 else 3
    if d <= limit:
        n = "one character" if d == 1 else f"{d} characters"
        return f"differs from the caller's ARN by {n}", d
    return None


def caller_role(case: Case) -> str | None:
    return case.facts.principal_arn or case.facts.caller_arn


def the_action(case: Case) -> str:
    if case.result is not None:
        return case.result.request.action
    return case.facts.action or "kms:Decrypt"


def the_resource(case: Case) -> str:
    if case.result is not None:
        return case.result.request.resource
    return case.facts.key_arn or "*"


def fix_target(case: Case, s: StatementTrace) -> str:
    """Where an edit of statement ``s`` goes, as the other fixes name it: ``key policy of <key ARN>``,
    ``bucket policy of <bucket>``, else the layer and policy name."""
    if s.layer == Layer.KEY_POLICY and case.facts.key_arn:
        return f"key policy of {case.facts.key_arn}"
    if s.layer == Layer.BUCKET_POLICY and case.facts.bucket:
        return f"bucket policy of {case.facts.bucket}"
    return f"{s.layer} {s.policy_name}"


def key_account(case: Case) -> str | None:
    return case.facts.key_account or fixes.arn_account(case.facts.key_arn)


def find_identity_policy(case: Case, s: StatementTrace) -> NamedPolicy | None:
    inf = case.inforce
    for p in (inf.identity_policies or ()) if inf else ():
        if p.name == s.policy_name and (not s.policy_kind or p.kind == s.policy_kind):
            return p
    return None


def identity_edit_commands(case: Case, s: StatementTrace) -> tuple[str, ...]:
    """Commands that fetch, then put back, the identity policy holding statement ``s``."""
    pol = find_identity_policy(case, s)
    kind = (s.policy_kind or (pol.kind if pol else "")).lower()
    account = s.account or case.facts.caller_account
    if "managed" in kind and pol is not None and pol.arn:
        return fixes.managed_policy_commands(pol.arn, account=account)
    target = (pol.attached_to if pol else None) or caller_role(case) or ""
    ptype, name = fixes.principal_kind_and_name(target)
    if "group" in kind:
        ptype, name = "group", (target.rsplit("/", 1)[-1] if target else "GROUP")
    pname = q(s.policy_name or "POLICY")
    if ptype in {"role", "user", "group"} and name:
        opt = f"--{ptype}-name {q(name)}"
        return (
            f"# with credentials of account {account}",
            f"aws iam get-{ptype}-policy {opt} --policy-name {pname} --query PolicyDocument --output json > policy.json",
            "# replace the statement in policy.json with the corrected one shown above, then:",
            f"aws iam put-{ptype}-policy {opt} --policy-name {pname} --policy-document file://policy.json",
        )
    return (f"# edit the identity policy {s.policy_name} of account {account} as shown above",)


def org_target(org_identifier: str | None, fallback: str | None) -> str:
    """The organization ID of one SCP/RCP level (``r-ab12/ou-ab12-xyz`` → ``ou-ab12-xyz``)."""
    if org_identifier:
        return org_identifier.rstrip("/").rsplit("/", 1)[-1]
    return fallback or "TARGET_ID"


def condition_family(key: str) -> str:
    k = key.lower()
    if k == "kms:viaservice":
        return "via_service"
    if k.startswith("kms:encryptioncontext"):
        return "encryption_context"
    return "other"


def condition_evidence(c: ConditionTrace) -> dict[str, Any]:
    return {
        "operator": c.operator,
        "key": c.key,
        "policy_values": list(c.policy_values),
        "request_values": list(c.request_values) if c.request_values is not None else None,
        "reason": c.reason,
    }
