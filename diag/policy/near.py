"""Near misses: policy values that almost name the request's principal, resource or action.

The raw material of typo diagnoses: a principal one letter off or in another account, a Resource in
another region or account, a key ID or alias where the key ARN was expected, an orphaned unique ID
(``AROA…``: the principal it named was deleted), an action with a typo. Edit distances are banded
(``limit``) and most comparisons are rejected by cheap lower bounds first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from diag.policy.match import ACCOUNT_RE, UNIQUE_ID_RE, Caller, split_arn
from diag.policy.model import NearMiss
from diag.policy.wildcard import glob_match


def edit_distance(a: str, b: str, limit: int = 3) -> int | None:
    """Levenshtein distance of ``a`` and ``b`` if it is at most ``limit``, else None (banded, O(n*limit))."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return None
    # a common prefix or suffix never changes the distance: ARNs share most of theirs, so drop them first
    k = 0
    while k < la and k < lb and a[k] == b[k]:
        k += 1
    e = 0
    while e < la - k and e < lb - k and a[la - 1 - e] == b[lb - 1 - e]:
        e += 1
    a, b = a[k : la - e], b[k : lb - e]
    la, lb = len(a), len(b)
    if la > limit and lb > limit and _digit_excess(a, b) > limit:
        return None
    big = limit + 1
    prev = [j if j <= limit else big for j in range(lb + 1)]
    for i in range(1, la + 1):
        cur = [big] * (lb + 1)
        if i <= limit:
            cur[0] = i
        lo = max(1, i - limit)
        hi = min(lb, i + limit)
        ca = a[i - 1]
        row_min = cur[0]
        for j in range(lo, hi + 1):
            cost = 0 if ca == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            cur[j] = v if v < big else big
            if cur[j] < row_min:
                row_min = cur[j]
        if row_min > limit:
            return None
        prev = cur
    d = prev[lb]
    return d if d <= limit else None


def _digit_excess(a: str, b: str) -> int:
    """A lower bound of the edit distance: one edit changes one digit's count in one string by one.

    (The bag distance restricted to digits; ARNs that differ in their account ID are rejected with it
    before the dynamic programme.)
    """
    more = less = 0
    for c in "0123456789":
        d = a.count(c) - b.count(c)
        if d > 0:
            more += d
        else:
            less -= d
    return more if more > less else less


def principal_near_misses(values: Sequence[tuple[str, str]], caller: Caller) -> list[NearMiss]:
    """Policy principal values that almost name the caller: typos, wrong account digits, case, unique IDs."""
    return PrincipalNearMisses(values).find(caller)


class PrincipalNearMisses:
    """``principal_near_misses`` for one Principal element, each value classified once (unique ID, account
    ID, ARN with its fields); a compiled statement keeps one."""

    __slots__ = ("entries",)

    def __init__(self, values: Sequence[tuple[str, str]]) -> None:
        entries: list[tuple[int, str, str, list[str] | None]] = []
        for ptype, value in values:
            if ptype != "AWS" or value == "*":
                continue
            if UNIQUE_ID_RE.match(value):
                entries.append((_UID, value, value, None))
            elif ACCOUNT_RE.match(value):
                entries.append((_ACCOUNT, value, value, None))
            else:
                entries.append((_ARN, value, value.lower(), split_arn(value)))
        self.entries = tuple(entries)

    def find(self, caller: Caller) -> list[NearMiss]:
        out: list[NearMiss] = []
        if caller.is_service:
            return out
        arn, role_arn = caller.arn, caller.role_arn
        session = _SessionFacts(arn) if caller.kind == "assumed-role" else None
        for cls, value, lower, parts in self.entries:
            if cls == _UID:
                out.append(
                    NearMiss(
                        "principal",
                        value,
                        arn,
                        None,
                        f"the policy holds the unique ID {value} instead of an ARN: the principal it named was "
                        "deleted (a recreated role or user has a new ID)",
                    )
                )
                continue
            if cls == _ACCOUNT:
                if caller.account and value != caller.account:
                    d = edit_distance(value, caller.account, 2)
                    if d is not None:
                        out.append(
                            NearMiss(
                                "account",
                                value,
                                caller.account,
                                d,
                                f"account {value} differs from the caller's {caller.account} by {d} digit(s)",
                            )
                        )
                continue
            miss = None
            if value != arn:  # the caller's own ARN first, then (a session) its role's
                miss = session.near_miss(value, lower, parts) if session else _principal_near_miss(value, arn)
            if miss is None and role_arn and value != role_arn:
                miss = _principal_near_miss(value, role_arn)
            if miss is not None:
                out.append(miss)
        return out


_UID, _ACCOUNT, _ARN = 0, 1, 2


class _SessionFacts:
    """A session ARN with what ``_session_near_miss`` reads of it, computed once per request."""

    __slots__ = ("arn", "fields", "length", "lower")

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.length = len(arn)
        self.lower = arn.lower()
        self.fields = split_arn(arn)

    def near_miss(self, value: str, lower: str, parts: list[str] | None) -> NearMiss | None:
        """``_session_near_miss(value, self.arn)`` with the value's lower case and fields precomputed."""
        if abs(len(value) - self.length) <= 3 or lower == self.lower:
            return _principal_near_miss.__wrapped__(value, self.arn)
        tv = self.fields
        if tv is not None and value.endswith(tv[5]) and parts and parts[5] == tv[5] and parts[4] != tv[4]:
            return NearMiss(
                "account", value, self.arn, None, f"same name in account {parts[4]}, the caller is in {tv[4]}"
            )
        return None


@lru_cache(maxsize=65536)
def _principal_near_miss(value: str, target: str) -> NearMiss | None:
    """The near miss of policy principal ``value`` against the caller ARN ``target``, or None.

    Pure in its two strings, so cached for a session's role ARN (every session of a role meets the same
    policy values again; the edit distance is the engine's costliest step); the session ARN itself,
    new in nearly every request, goes to the uncached function.
    """
    if value.lower() == target.lower():
        return NearMiss("principal", value, target, 0, "differs only in letter case")
    # edit_distance returns None at once for lengths more than 3 apart: skip the call
    d = edit_distance(value, target, 3) if abs(len(value) - len(target)) <= 3 else None
    pv, tv = split_arn(value), split_arn(target)
    if d is not None:
        if pv and tv and pv[4] != tv[4] and pv[5] == tv[5]:
            return NearMiss("account", value, target, d, f"same name in account {pv[4]}, the caller is in {tv[4]}")
        return NearMiss("principal", value, target, d, f"edit distance {d} from the caller's ARN")
    if pv and tv and pv[5] == tv[5] and pv[4] != tv[4]:
        return NearMiss("account", value, target, None, f"same name in account {pv[4]}, the caller is in {tv[4]}")
    return None


def resource_near_misses(patterns: Sequence[str], resource: str) -> list[NearMiss]:
    """Resource values that almost name ``resource``: other region/account, key ID or alias, typos."""
    out: list[NearMiss] = []
    req = split_arn(resource)
    for pattern in patterns:
        if pattern == "*" or "${" in pattern:
            continue
        pat = split_arn(pattern)
        if pat is None:
            if req and req[2] == "kms":
                key_id = req[5].partition("/")[2]
                if pattern == key_id or pattern == req[5]:
                    out.append(NearMiss("resource", pattern, resource, None, "key ID where the key ARN was expected"))
                elif pattern.startswith("alias/"):
                    out.append(
                        NearMiss(
                            "resource",
                            pattern,
                            resource,
                            None,
                            "alias name where the key ARN was expected (IAM matches the key ARN, not aliases)",
                        )
                    )
            continue
        if req is None:
            continue
        same_rest = glob_match(pat[5], req[5]) and pat[2] == req[2]
        if same_rest and pat[3] != req[3] and not glob_match(pat[3], req[3]) and glob_match(pat[4], req[4]):
            out.append(
                NearMiss("region", pattern, resource, None, f"Resource is in {pat[3]}, the resource in {req[3]}")
            )
            continue
        if same_rest and pat[4] != req[4] and not glob_match(pat[4], req[4]) and glob_match(pat[3], req[3]):
            out.append(
                NearMiss(
                    "account", pattern, resource, None, f"Resource is in account {pat[4]}, the resource in {req[4]}"
                )
            )
            continue
        if pat[2] == "kms" and req[2] == "kms" and pat[5].startswith("alias/"):
            out.append(
                NearMiss(
                    "resource",
                    pattern,
                    resource,
                    None,
                    "alias ARN where the key ARN was expected (IAM matches the key ARN, not aliases)",
                )
            )
            continue
        if "*" not in pattern and "?" not in pattern:
            d = edit_distance(pattern, resource, 3)
            if d is not None and d > 0:
                out.append(NearMiss("resource", pattern, resource, d, f"edit distance {d} from the requested resource"))
    return out


def action_near_misses(patterns: Sequence[str], action: str) -> list[NearMiss]:
    """Action values that almost name ``action`` (typos such as ``kms:Decrypts``)."""
    out: list[NearMiss] = []
    low = action.lower()
    for pattern in patterns:
        if "*" in pattern or "?" in pattern:
            continue
        d = edit_distance(pattern.lower(), low, 2)
        if d is not None and d > 0:
            out.append(NearMiss("action", pattern, action, d, f"edit distance {d} from the requested action"))
    return out
