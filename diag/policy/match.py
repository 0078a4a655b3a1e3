"""Matching of actions, resources and principals, with near-miss detection for diagnosis.

Rules (IAM User Guide, policy elements):

- Actions: ``service:Name`` compared case-insensitively; ``*`` matches any run of characters, ``?`` one.
- Resources: ARNs compared segment by segment (``arn:partition:service:region:account:resource``); in
  the first five segments a wildcard does not cross a ``:`` unless the ``*`` is the last character of its
  segment (IAM User Guide: such a ``*`` "can expand to match beyond colon boundaries", so
  ``arn:aws:kms:*`` matches every KMS ARN); in the resource part ``*`` matches anything (including ``/``
  and ``:``). Matching is case-sensitive. Policy variables (``${aws:username}``)
  are substituted first, and their values are literal (a ``*`` in a user name is not a wildcard);
  ``${*}``, ``${?}``, ``${$}`` are the literal characters. An unresolvable variable makes the pattern
  match nothing.
- Principals: ``"*"`` matches everyone; an account ID or ``arn:aws:iam::ACCOUNT:root`` matches every
  principal of that account (``ACCOUNT`` kind: for the resource owner's account this is delegation to
  IAM, not a grant to the caller); a role ARN matches the role and every assumed-role session of it
  (compared on account and role name, as the session ARN carries no path); a user, session or federated
  user ARN matches exactly; Service/Federated/CanonicalUser values match the caller string exactly
  (service principals case-insensitively). Unique IDs (``AROA…``, ``AIDA…``) match only the principal
  whose ``aws:userid`` starts with that ID; otherwise they are reported as an orphaned principal.
  Principal ARNs are compared case-sensitively (a case-only difference is a recorded near miss).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from diag.policy.model import NearMiss

_UNIQUE_ID_RE = re.compile(r"^(AROA|AIDA|AIPA|ANPA|ANVA|ASIA|AGPA)[A-Z0-9]{12,}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_VAR_RE = re.compile(r"\$\{([^}]*)\}")
_NO_MATCH = re.compile(r"(?!)")


class PrincipalMatch(StrEnum):
    """How a policy principal value matched the caller (the engine's same-account rules depend on it)."""

    NONE = "none"
    WILDCARD = "wildcard"  # "*"
    EXACT = "exact"  # the caller's own ARN: user, session, federated user, role itself, root
    ROLE = "role"  # the role ARN, caller is a session of it (or the role itself)
    ACCOUNT = "account"  # account ID or account root ARN
    SERVICE = "service"  # service principal
    UNIQUE_ID = "unique_id"  # unique ID equal to the caller's aws:userid prefix


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller's identity, decoded from its ARN."""

    arn: str
    kind: str  # user, role, assumed-role, federated-user, root, service, unknown
    account: str | None
    partition: str = "aws"
    name: str = ""  # user/role name (last path segment), session role name, service name
    session: str | None = None
    role_arn: str | None = None  # for assumed-role sessions: arn:aws:iam::ACCOUNT:role/NAME (no path)

    @property
    def is_service(self) -> bool:
        return self.kind == "service"


@lru_cache(maxsize=4096)
def parse_caller(arn: str) -> Caller:
    """Decode a principal ARN (or a service principal name) into a ``Caller``."""
    if not isinstance(arn, str):  # defensive: callers are attacker-controlled data
        return Caller(str(arn), "unknown", None)
    if not arn.startswith("arn:") and (arn.endswith(".amazonaws.com") or arn.endswith(".amazonaws.com.cn")):
        return Caller(arn, "service", None, name=arn)
    if _ACCOUNT_RE.match(arn):
        return Caller(f"arn:aws:iam::{arn}:root", "root", arn)
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return Caller(arn, "unknown", None)
    _, partition, service, _region, account, res = parts
    account_or_none = account or None
    if service == "iam":
        if res == "root":
            return Caller(arn, "root", account_or_none, partition)
        typ, _, rest = res.partition("/")
        if typ in ("user", "role"):
            return Caller(arn, typ, account_or_none, partition, name=rest.rsplit("/", 1)[-1])
        return Caller(arn, "unknown", account_or_none, partition)
    if service == "sts":
        typ, _, rest = res.partition("/")
        if typ == "assumed-role":
            role, _, session = rest.partition("/")
            return Caller(
                arn,
                "assumed-role",
                account_or_none,
                partition,
                name=role,
                session=session,
                role_arn=f"arn:{partition}:iam::{account}:role/{role}",
            )
        if typ == "federated-user":
            return Caller(arn, "federated-user", account_or_none, partition, name=rest)
    return Caller(arn, "unknown", account_or_none, partition)


def account_of_arn(arn: str | None) -> str | None:
    """The account field of an ARN, or None (S3 ARNs carry none)."""
    if not arn or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    return parts[4] or None


# ------------------------------------------------------------------------------------------ wildcards


@lru_cache(maxsize=8192)
def _glob_regex(pattern: str, case_insensitive: bool, stop_at_colon: bool = False) -> re.Pattern[str]:
    star = "[^:]*" if stop_at_colon else ".*"
    one = "[^:]" if stop_at_colon else "."
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def glob_match(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    """``*``/``?`` glob match of the whole ``value``."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if case_insensitive else pattern == value
    return _glob_regex(pattern, case_insensitive).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """IAM action match: case-insensitive, with ``*`` and ``?``."""
    return glob_match(pattern, action, case_insensitive=True)


@lru_cache(maxsize=8192)
def _arn_regex(tokens: tuple[tuple[bool, str], ...]) -> re.Pattern[str]:
    """Compile an ARN pattern given as (is_literal, text) tokens.

    IAM's rule: wildcards work within a colon-separated segment; a ``*`` that is the last character of a
    segment (followed by ``:`` or the end) may expand across colons; in the resource part (after the
    fifth colon) ``*`` matches anything.
    """
    chars: list[tuple[bool, str]] = [(literal, ch) for literal, text in tokens for ch in text]
    out: list[str] = []
    colons = 0
    for i, (literal, ch) in enumerate(chars):
        if literal or ch not in "*?":
            if ch == ":":
                colons += 1
            out.append(re.escape(ch))
            continue
        in_resource = colons >= 5
        if ch == "?":
            out.append("." if in_resource else "[^:]")
            continue
        last_of_segment = i + 1 == len(chars) or chars[i + 1] == (False, ":") or chars[i + 1] == (True, ":")
        out.append(".*" if in_resource or last_of_segment else "[^:]*")
    return re.compile("".join(out), re.DOTALL)


def substitute(pattern: str, context: Mapping[str, Sequence[str]] | None) -> tuple[tuple[bool, str], ...] | None:
    """Split ``pattern`` into (is_literal, text) tokens with policy variables resolved from ``context``.

    ``context`` maps lower-cased keys to value tuples. Returns None when a variable cannot be resolved
    (absent or multi-valued key without a default): the element then matches nothing.
    """
    if "${" not in pattern:
        return ((False, pattern),)
    tokens: list[tuple[bool, str]] = []
    pos = 0
    for m in _VAR_RE.finditer(pattern):
        if m.start() > pos:
            tokens.append((False, pattern[pos : m.start()]))
        body = m.group(1).strip()
        pos = m.end()
        if body in ("*", "?", "$"):
            tokens.append((True, body))
            continue
        key, default = body, None
        if "," in body:
            key, _, rest = body.partition(",")
            key = key.strip()
            rest = rest.strip()
            if len(rest) >= 2 and rest[0] == rest[-1] == "'":
                default = rest[1:-1]
        values = context.get(key.lower()) if context is not None else None
        if values is not None and len(values) == 1:
            tokens.append((True, values[0]))
        elif default is not None:
            tokens.append((True, default))
        else:
            return None
    if pos < len(pattern):
        tokens.append((False, pattern[pos:]))
    return tuple(tokens)


def resource_matches(pattern: str, resource: str, context: Mapping[str, Sequence[str]] | None = None) -> bool:
    """IAM Resource match of ``resource`` against ``pattern`` (see module docstring)."""
    if pattern == "*":
        return True
    tokens = substitute(pattern, context)
    if tokens is None:
        return False
    if len(tokens) == 1 and not tokens[0][0]:
        text = tokens[0][1]
        if "*" not in text and "?" not in text:
            return text == resource
    return _arn_regex(tokens).fullmatch(resource) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: segment-wise, wildcards allowed in each segment (condition operators).

    Each of the six colon-separated components is compared on its own, so a pattern with fewer
    components only matches a value with as many (``"*"`` matches anything).
    """
    if pattern == "*":
        return True
    if pattern.count(":") < 5:
        return value.count(":") == pattern.count(":") and glob_match(pattern, value)
    return _arn_regex(((False, pattern),)).fullmatch(value) is not None


# ------------------------------------------------------------------------------------------ principals


def principal_value_match(ptype: str, value: str, caller: Caller, userid: str | None = None) -> PrincipalMatch:
    """How one Principal value (``ptype`` AWS/Service/Federated/CanonicalUser) matches the caller."""
    if ptype == "Service":
        return (
            PrincipalMatch.SERVICE if caller.is_service and value.lower() == caller.arn.lower() else PrincipalMatch.NONE
        )
    if ptype != "AWS":
        return PrincipalMatch.EXACT if value == caller.arn else PrincipalMatch.NONE
    if value == "*":
        return PrincipalMatch.WILDCARD
    if caller.is_service:
        return PrincipalMatch.NONE
    if _ACCOUNT_RE.match(value):
        return PrincipalMatch.ACCOUNT if value == caller.account else PrincipalMatch.NONE
    if _UNIQUE_ID_RE.match(value):
        if userid and (userid == value or userid.startswith(value + ":")):
            return PrincipalMatch.UNIQUE_ID
        return PrincipalMatch.NONE
    if value == caller.arn:
        return PrincipalMatch.ROLE if caller.kind == "role" else PrincipalMatch.EXACT
    pc = parse_caller(value)
    if pc.kind == "root":
        return PrincipalMatch.ACCOUNT if pc.account == caller.account and caller.account else PrincipalMatch.NONE
    if (
        pc.kind == "role"
        and caller.kind in ("assumed-role", "role")
        and (pc.account, pc.name) == (caller.account, caller.name)
    ):
        return PrincipalMatch.ROLE
    return PrincipalMatch.NONE


def principal_match(
    values: Sequence[tuple[str, str]], wildcard: bool, caller: Caller, userid: str | None = None
) -> tuple[PrincipalMatch, str | None]:
    """Best match of ``caller`` against a Principal element: (kind, the policy value that matched).

    The most specific kind wins (exact, then role, unique ID, service, wildcard, account), because the
    engine's same-account rules give a direct grant more weight than delegation to the account.
    """
    best = PrincipalMatch.NONE
    best_value: str | None = None
    rank = {
        PrincipalMatch.EXACT: 6,
        PrincipalMatch.UNIQUE_ID: 5,
        PrincipalMatch.SERVICE: 5,
        PrincipalMatch.ROLE: 4,
        PrincipalMatch.WILDCARD: 3,
        PrincipalMatch.ACCOUNT: 2,
        PrincipalMatch.NONE: 0,
    }
    if wildcard:
        best, best_value = PrincipalMatch.WILDCARD, "*"
    for ptype, value in values:
        m = principal_value_match(ptype, value, caller, userid)
        if rank[m] > rank[best]:
            best, best_value = m, value
    return best, best_value


_PM_MAX = 65536
_PM_MEMO: dict[tuple[object, ...], tuple[PrincipalMatch, str | None]] = {}
_PM_SPECS: dict[int, tuple[Sequence[tuple[str, str]], frozenset[str], bool]] = {}


def _spec_facts(values: Sequence[tuple[str, str]]) -> tuple[frozenset[str], bool]:
    """(every value, whether one is a unique ID) of a Principal element, computed once per element."""
    hit = _PM_SPECS.get(id(values))
    if hit is not None and hit[0] is values:
        return hit[1], hit[2]
    facts = (
        frozenset(v for _, v in values),
        any(t == "AWS" and _UNIQUE_ID_RE.match(v) is not None for t, v in values),
    )
    if len(_PM_SPECS) >= _PM_MAX:  # the memos' keys hold these ids: forget them together
        _PM_SPECS.clear()
        _PM_MEMO.clear()
        _NM_MEMO.clear()
    _PM_SPECS[id(values)] = (values, *facts)
    return facts


def principal_match_memo(
    values: Sequence[tuple[str, str]], wildcard: bool, caller: Caller, userid: str | None = None
) -> tuple[PrincipalMatch, str | None]:
    """``principal_match``, memoized on exactly what its answer depends on.

    ``principal_value_match`` reads the caller's kind, account, name and service flag; its ARN only by
    equality with a value (and, for service principals, case-insensitively); ``userid`` only for
    unique-ID values. So for an assumed-role session whose ARN is not one of the values, the session ARN
    is left out of the key (every session of a role shares the answer), and ``userid`` is left out when
    the element holds no unique ID. ``values`` must be immutable (a parsed ``PrincipalSpec``'s).
    """
    names, has_uid = _spec_facts(values)
    arn_key = None if caller.kind == "assumed-role" and caller.arn not in names else caller.arn
    uid_key = userid if has_uid else None
    key = (id(values), wildcard, caller.kind, caller.account, caller.name, caller.is_service, arn_key, uid_key)
    hit = _PM_MEMO.get(key)
    if hit is not None:
        return hit
    out = principal_match(values, wildcard, caller, userid)
    if len(_PM_MEMO) >= _PM_MAX:
        _PM_MEMO.clear()
    _PM_MEMO[key] = out
    return out


# ------------------------------------------------------------------------------------------ near misses


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


_NM_MEMO: dict[tuple[int, Caller], tuple[NearMiss, ...]] = {}


def principal_near_misses_memo(values: Sequence[tuple[str, str]], caller: Caller) -> tuple[NearMiss, ...]:
    """``principal_near_misses`` (which reads only the values and the caller), memoized on both.

    One caller meets the same Principal element for every action and service it is asked about. ``values``
    must be a parsed ``PrincipalSpec``'s (kept alive, and its ``id`` guarded, by ``_spec_facts``).
    """
    _spec_facts(values)
    key = (id(values), caller)
    hit = _NM_MEMO.get(key)
    if hit is not None:
        return hit
    out = tuple(principal_near_misses(values, caller))
    if len(_NM_MEMO) >= _PM_MAX:
        _NM_MEMO.clear()
    _NM_MEMO[key] = out
    return out


def _split_arn(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def principal_near_misses(values: Sequence[tuple[str, str]], caller: Caller) -> list[NearMiss]:
    """Policy principal values that almost name the caller: typos, wrong account digits, case, unique IDs."""
    out: list[NearMiss] = []
    if caller.is_service:
        return out
    targets = [caller.arn] + ([caller.role_arn] if caller.role_arn else [])
    for ptype, value in values:
        if ptype != "AWS" or value == "*":
            continue
        if _UNIQUE_ID_RE.match(value):
            out.append(
                NearMiss(
                    "principal",
                    value,
                    caller.arn,
                    None,
                    f"the policy holds the unique ID {value} instead of an ARN: the principal it named was "
                    "deleted (a recreated role or user has a new ID)",
                )
            )
            continue
        if _ACCOUNT_RE.match(value):
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
        for target in targets:
            if value == target:
                continue
            miss = (
                _principal_near_miss(value, target)
                if target is not caller.arn or caller.kind != "assumed-role"
                else _session_near_miss(value, target)
            )
            if miss is not None:
                out.append(miss)
                break
    return out


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
    pv, tv = _split_arn(value), _split_arn(target)
    if d is not None:
        if pv and tv and pv[4] != tv[4] and pv[5] == tv[5]:
            return NearMiss("account", value, target, d, f"same name in account {pv[4]}, the caller is in {tv[4]}")
        return NearMiss("principal", value, target, d, f"edit distance {d} from the caller's ARN")
    if pv and tv and pv[5] == tv[5] and pv[4] != tv[4]:
        return NearMiss("account", value, target, None, f"same name in account {pv[4]}, the caller is in {tv[4]}")
    return None


def _session_near_miss(value: str, session_arn: str) -> NearMiss | None:
    """``_principal_near_miss`` against a session ARN (new in nearly every request, so not cached).

    Most policy values are far longer or shorter than a session ARN: then neither the case-only nor the
    edit-distance branch can hold, and only the account branch (same resource part) needs checking.
    """
    if abs(len(value) - len(session_arn)) <= 3 or value.lower() == session_arn.lower():
        return _principal_near_miss.__wrapped__(value, session_arn)
    tv = _split_arn(session_arn)
    if tv is not None and value.endswith(tv[5]):
        pv = _split_arn(value)
        if pv and pv[5] == tv[5] and pv[4] != tv[4]:
            return NearMiss(
                "account", value, session_arn, None, f"same name in account {pv[4]}, the caller is in {tv[4]}"
            )
    return None


def resource_near_misses(patterns: Sequence[str], resource: str) -> list[NearMiss]:
    """Resource values that almost name ``resource``: other region/account, key ID or alias, typos."""
    out: list[NearMiss] = []
    req = _split_arn(resource)
    for pattern in patterns:
        if pattern == "*" or "${" in pattern:
            continue
        pat = _split_arn(pattern)
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
