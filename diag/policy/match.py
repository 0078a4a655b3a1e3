"""The caller and Principal elements: who is asking, and how a policy's Principal names them.

Rules (IAM User Guide, "AWS JSON policy elements: Principal"): ``"*"`` matches everyone; an account ID or
``arn:aws:iam::ACCOUNT:root`` matches every principal of that account (``ACCOUNT`` kind: for the resource
owner's account this is delegation to IAM, not a grant to the caller); a role ARN matches the role and
every assumed-role session of it (compared on account and role name, as the session ARN carries no path);
a user, session or federated user ARN matches exactly; Service/Federated/CanonicalUser values match the
caller string exactly (service principals case-insensitively). Unique IDs (``AROA…``, ``AIDA…``) match
only the principal whose ``aws:userid`` starts with that ID; otherwise they are reported as an orphaned
principal. Principal ARNs are compared case-sensitively (a case-only difference is a recorded near miss,
``diag.policy.near``).

Action and Resource matching live in ``diag.policy.wildcard`` (re-exported here for existing callers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from diag import arn as arns
from diag.arn import account_of as account_of_arn
from diag.arn import split as split_arn
from diag.policy.cache import BoundedCache
from diag.policy.wildcard import action_matches, arn_like, glob_match, resource_matches, substitute

__all__ = [
    "ACCOUNT_RE",
    "UNIQUE_ID_RE",
    "Caller",
    "PrincipalMatch",
    "PrincipalMemo",
    "account_of_arn",
    "action_matches",
    "arn_like",
    "glob_match",
    "parse_caller",
    "principal_match",
    "principal_match_memo",
    "principal_value_match",
    "resource_matches",
    "split_arn",
    "substitute",
]

UNIQUE_ID_RE = re.compile(r"^(AROA|AIDA|AIPA|ANPA|ANVA|ASIA|AGPA)[A-Z0-9]{12,}$")
ACCOUNT_RE = arns.ACCOUNT_RE


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
    if ACCOUNT_RE.match(arn):
        return Caller(arns.root_arn(arn), "root", arn)
    parts = arns.split(arn)
    if parts is None:
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
                role_arn=arns.role_arn(account, role, partition=partition),
            )
        if typ == "federated-user":
            return Caller(arn, "federated-user", account_or_none, partition, name=rest)
    return Caller(arn, "unknown", account_or_none, partition)


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
    if ACCOUNT_RE.match(value):
        return PrincipalMatch.ACCOUNT if value == caller.account else PrincipalMatch.NONE
    if UNIQUE_ID_RE.match(value):
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


# How specific each kind of principal match is (principal_match keeps the most specific, the first on ties).
_SPECIFIC = {
    PrincipalMatch.EXACT: 6,
    PrincipalMatch.UNIQUE_ID: 5,
    PrincipalMatch.SERVICE: 5,
    PrincipalMatch.ROLE: 4,
    PrincipalMatch.WILDCARD: 3,
    PrincipalMatch.ACCOUNT: 2,
    PrincipalMatch.NONE: 0,
}


def principal_match(
    values: Sequence[tuple[str, str]], wildcard: bool, caller: Caller, userid: str | None = None
) -> tuple[PrincipalMatch, str | None]:
    """Best match of ``caller`` against a Principal element: (kind, the policy value that matched).

    The most specific kind wins (exact, then role, unique ID, service, wildcard, account), because the
    engine's same-account rules give a direct grant more weight than delegation to the account.
    """
    best = PrincipalMatch.NONE
    best_value: str | None = None
    rank = _SPECIFIC
    if wildcard:
        best, best_value = PrincipalMatch.WILDCARD, "*"
    for ptype, value in values:
        m = principal_value_match(ptype, value, caller, userid)
        if rank[m] > rank[best]:
            best, best_value = m, value
    return best, best_value


class PrincipalMemo:
    """``principal_match``, memoized on exactly what its answer depends on (one memo table per owner).

    ``principal_value_match`` reads the caller's kind, account, name and service flag; its ARN only by
    equality with a value (and, for service principals, case-insensitively); ``userid`` only for
    unique-ID values. So for an assumed-role session whose ARN is not one of the values, the session ARN
    is left out of the key (every session of a role shares the answer), and ``userid`` is left out when
    the element holds no unique ID. ``values`` must be immutable (a parsed ``PrincipalSpec``'s); the memo
    keeps each one alive with its facts, so its ``id`` cannot be reused while an entry lives.
    """

    __slots__ = ("_memo", "_specs")

    def __init__(self, limit: int = 65536) -> None:
        self._memo: BoundedCache[tuple[object, ...], tuple[PrincipalMatch, str | None]] = BoundedCache(limit)
        self._specs: BoundedCache[int, tuple[Sequence[tuple[str, str]], frozenset[str], bool]] = BoundedCache(limit)

    def _facts(self, values: Sequence[tuple[str, str]]) -> tuple[frozenset[str], bool]:
        hit = self._specs.get(id(values))
        if hit is not None and hit[0] is values:
            return hit[1], hit[2]
        facts = (
            frozenset(v for _, v in values),
            any(t == "AWS" and UNIQUE_ID_RE.match(v) is not None for t, v in values),
        )
        if len(self._specs) >= self._specs.limit:  # the memo's keys hold these ids: forget both together
            self._specs.clear()
            self._memo.clear()
        self._specs.put(id(values), (values, *facts))
        return facts

    def match(
        self, values: Sequence[tuple[str, str]], wildcard: bool, caller: Caller, userid: str | None = None
    ) -> tuple[PrincipalMatch, str | None]:
        names, has_uid = self._facts(values)
        arn_key = None if caller.kind == "assumed-role" and caller.arn not in names else caller.arn
        uid_key = userid if has_uid else None
        key = (id(values), wildcard, caller.kind, caller.account, caller.name, caller.is_service, arn_key, uid_key)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        return self._memo.put(key, principal_match(values, wildcard, caller, userid))

    def clear(self) -> None:
        self._specs.clear()
        self._memo.clear()


_SHARED_MEMO = PrincipalMemo()


def principal_match_memo(
    values: Sequence[tuple[str, str]], wildcard: bool, caller: Caller, userid: str | None = None
) -> tuple[PrincipalMatch, str | None]:
    """``principal_match`` through a process-wide ``PrincipalMemo`` (for callers without an engine)."""
    return _SHARED_MEMO.match(values, wildcard, caller, userid)


class PrincipalIndex:
    """``principal_match`` for one Principal element, by lookups instead of a scan of its values.

    Each value is classified once, in ``principal_value_match``'s order (AWS ``*``, account ID, unique ID,
    ARN: exact, else account root, else role; Service; other types). For a caller, every value that can
    match is found by a dictionary lookup on the caller's ARN, account or (account, role name), and the
    most specific kind wins, the first value on ties: the answer of ``principal_match``.
    """

    __slots__ = ("accounts", "exact", "other", "roles", "roots", "services", "uids", "wildcard")

    def __init__(self, values: Sequence[tuple[str, str]], wildcard: bool) -> None:
        self.wildcard: tuple[int, str] | None = (-1, "*") if wildcard else None
        self.exact: dict[str, tuple[int, str]] = {}  # AWS ARNs (and other strings) compared with the caller's ARN
        self.accounts: dict[str, tuple[int, str]] = {}  # AWS 12-digit account IDs
        self.roots: dict[str, tuple[int, str]] = {}  # AWS account root ARNs, by account
        self.roles: dict[tuple[str | None, str], tuple[int, str]] = {}  # AWS role ARNs, by (account, name)
        self.uids: list[tuple[int, str]] = []  # AWS unique IDs
        self.services: dict[str, tuple[int, str]] = {}  # Service values, lower-cased
        self.other: dict[str, tuple[int, str]] = {}  # Federated, CanonicalUser
        for i, (ptype, value) in enumerate(values):
            entry = (i, value)
            if ptype == "Service":
                self.services.setdefault(value.lower(), entry)
            elif ptype != "AWS":
                self.other.setdefault(value, entry)
            elif value == "*":
                self.wildcard = self.wildcard or entry
            elif ACCOUNT_RE.match(value):
                self.accounts.setdefault(value, entry)
            elif UNIQUE_ID_RE.match(value):
                self.uids.append(entry)
            else:
                self.exact.setdefault(value, entry)
                pc = parse_caller(value)
                if pc.kind == "root":
                    self.roots.setdefault(pc.account or "", entry)
                elif pc.kind == "role":
                    self.roles.setdefault((pc.account, pc.name), entry)

    def match(self, caller: Caller, userid: str | None = None) -> tuple[PrincipalMatch, str | None]:
        found: list[tuple[int, int, PrincipalMatch, str]] = []  # (specificity, -index, kind, value)

        def add(kind: PrincipalMatch, entry: tuple[int, str] | None) -> None:
            if entry is not None:
                found.append((_SPECIFIC[kind], -entry[0], kind, entry[1]))

        add(PrincipalMatch.WILDCARD, self.wildcard)
        add(PrincipalMatch.EXACT, self.other.get(caller.arn))
        if caller.is_service:
            add(PrincipalMatch.SERVICE, self.services.get(caller.arn.lower()))
        else:
            exact = self.exact.get(caller.arn)
            add(PrincipalMatch.ROLE if caller.kind == "role" else PrincipalMatch.EXACT, exact)
            if caller.account:
                add(PrincipalMatch.ACCOUNT, self.accounts.get(caller.account))
                add(PrincipalMatch.ACCOUNT, self.roots.get(caller.account))
            if caller.kind in ("assumed-role", "role"):
                add(PrincipalMatch.ROLE, self.roles.get((caller.account, caller.name)))
            if userid:
                for entry in self.uids:
                    if userid == entry[1] or userid.startswith(entry[1] + ":"):
                        add(PrincipalMatch.UNIQUE_ID, entry)
                        break
        if not found:
            return PrincipalMatch.NONE, None
        _, _, kind, value = max(found)
        return kind, value
