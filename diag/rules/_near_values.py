"""Near misses inside condition values: a policy value that almost equals what the request had.

A condition that did not hold because of a typo (a transposed role name in an ``aws:PrincipalArn`` list,
a wrong digit in an account ID, the role path ``/aws-reserved/sso.amazonaws.com/`` left out of an
``ArnLike`` pattern) is a typo, not a reason to widen the condition: the fix is the statement with the
value corrected. Only string and ARN operators are searched; a wildcard pattern is compared on its
literal parts (its wildcards stay).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from diag.policy.model import ConditionTrace
from diag.policy.near import edit_distance
from diag.policy.wildcard import arn_like

_PATH_RE = re.compile(r"^(arn:[^:]*:iam::\d{12}:role)(/.*/|/)([^/]+)$")
_OPERATORS = ("stringequals", "stringlike", "arnequals", "arnlike", "stringequalsignorecase")


@dataclass(frozen=True)
class NearValue:
    """``policy_value`` almost matches ``request_value``; ``corrected`` is what the policy should say."""

    key: str
    operator: str
    policy_value: str
    request_value: str
    corrected: str
    detail: str


def _base(operator: str) -> str:
    op = operator.split(":")[-1].lower()
    return op[: -len("ifexists")] if op.endswith("ifexists") else op


def _path_fix(policy: str, request: str) -> tuple[str, str] | None:
    """A role ARN (or pattern) without the role's path: the corrected value and why."""
    p, r = _PATH_RE.match(policy), _PATH_RE.match(request)
    if not p or not r or p.group(1) != r.group(1) or p.group(2) == r.group(2):
        return None
    if not arn_like(p.group(3), r.group(3)) and p.group(3) != r.group(3):
        return None
    corrected = f"{p.group(1)}{r.group(2)}{p.group(3)}"
    return corrected, f"the role's path {r.group(2)} is missing"


def near_value(c: ConditionTrace) -> NearValue | None:
    """The closest near miss of one failed condition, or None."""
    if c.undetermined or c.matched or not c.request_values or _base(c.operator) not in _OPERATORS:
        return None
    if c.operator.lower().startswith("forallvalues"):
        return None
    best: NearValue | None = None
    best_d = 99
    for pv in c.policy_values:
        if "${" in pv:
            continue
        for rv in c.request_values:
            path = _path_fix(pv, rv)
            if path is not None:
                return NearValue(c.key, c.operator, pv, rv, path[0], path[1])
            if "*" in pv or "?" in pv:
                continue
            d = edit_distance(pv, rv, 2)
            if d is None or d == 0 or len(pv) < 6:
                continue
            if d < best_d:
                best_d = d
                best = NearValue(c.key, c.operator, pv, rv, rv, f"{d} character(s) differ from what the request had")
    return best


def corrected_statement(statement: dict[str, Any] | None, near: NearValue) -> dict[str, Any] | None:
    """The statement with ``near.policy_value`` replaced by ``near.corrected`` in that condition."""
    if not isinstance(statement, dict):
        return None
    new = copy.deepcopy(statement)
    block = new.get("Condition")
    if not isinstance(block, dict):
        return None
    for op, keys in block.items():
        if str(op).lower() != near.operator.lower() or not isinstance(keys, dict):
            continue
        for k, v in keys.items():
            if str(k).lower() != near.key.lower():
                continue
            if v == near.policy_value:
                keys[k] = near.corrected
            elif isinstance(v, list):
                keys[k] = [near.corrected if x == near.policy_value else x for x in v]
    return new
