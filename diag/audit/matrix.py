"""Who can use each key, across accounts: every collected role and user × every key × common KMS actions,
decided by the policy engine with the same code path as `kmsdiag check` (``diag.check.run``).

An action denied on a direct call is tried again through each service that a ``kms:ViaService``
condition of the key policy or the principal's identity policies names (in the key's region), so a key
restricted to S3 shows "Decrypt via s3.us-east-1.amazonaws.com" rather than nothing.

Cost: a sound pre-filter first evaluates the key policy and grants alone, with the identity layer unknown
(counted as allowing) and no SCP/RCP/boundary: the most permissive reading. A principal denied there is
denied for real, so the policies in force (both accounts) are only read for the pairs that pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from diag import times
from diag.policy.model import Decision, NamedPolicy, OrgLevel
from diag.policy.parse import PolicyError, parse_policy

if TYPE_CHECKING:
    import duckdb

    from diag.audit.context import AuditContext, KeyRecord
    from diag.check.run import CallerInfo
    from diag.collect.model import InForce
    from diag.policy.model import PolicyInputs, Request

_KEY_GAPS = frozenset({"key", "keys", "key_policy", "grants", "rcp"})
MATRIX_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
)


@dataclass(frozen=True)
class PrincipalAccess:
    """What one principal may do with one key: actions allowed directly, and through a service only."""

    principal: str
    account: str
    kind: str
    direct: tuple[str, ...]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kms:ViaService value → actions
    deciding: dict[str, list[str]] = field(default_factory=dict)  # action → layers that granted it
    unverified: bool = False  # rests on a layer that was not collected

    def allowed(self) -> set[tuple[str, str | None]]:
        """Every (action, via-service or None) allowed."""
        out: set[tuple[str, str | None]] = {(a, None) for a in self.direct}
        out |= {(a, v) for v, acts in self.via.items() for a in acts}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "account": self.account,
            "kind": self.kind,
            "direct": list(self.direct),
            "via": {k: list(v) for k, v in self.via.items()},
            "deciding": self.deciding,
            "unverified": self.unverified,
        }


@dataclass(frozen=True)
class KeyAccess:
    key_arn: str
    account: str
    region: str
    aliases: tuple[str, ...]
    key_state: str | None
    key_manager: str | None
    principals: tuple[PrincipalAccess, ...]
    evaluated: int  # principals considered
    prefiltered: int  # of which ruled out by the key policy and grants alone
    policy_known: bool = True  # False: the key policy was not collected, the answers are partial

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_arn": self.key_arn,
            "account": self.account,
            "region": self.region,
            "aliases": list(self.aliases),
            "key_state": self.key_state,
            "key_manager": self.key_manager,
            "principals": [p.to_dict() for p in self.principals],
            "evaluated": self.evaluated,
            "prefiltered": self.prefiltered,
            "policy_known": self.policy_known,
        }


@dataclass(frozen=True)
class AccessMatrix:
    keys: tuple[KeyAccess, ...]
    actions: tuple[str, ...]
    at: dt.datetime | None
    accounts: tuple[str, ...]
    seconds: float = 0.0
    full_evaluations: int = 0

    def for_key(self, key_arn: str) -> KeyAccess | None:
        return next((k for k in self.keys if k.key_arn == key_arn), None)

    def principals_allowed(self, key_arn: str, account: str | None = None) -> list[str]:
        """ARNs of the principals (of ``account``) allowed at least one action on the key."""
        ka = self.for_key(key_arn)
        if ka is None:
            return []
        return [p.principal for p in ka.principals if account is None or p.account == account]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actions": list(self.actions),
            "accounts": list(self.accounts),
            "keys": [k.to_dict() for k in self.keys],
            "seconds": round(self.seconds, 3),
            "full_evaluations": self.full_evaluations,
        }


def _via_values(docs: list[Any], region: str) -> list[str]:
    """``kms:ViaService`` values named in conditions, made concrete for the key's region."""
    out: list[str] = []
    for doc in docs:
        try:
            parsed = parse_policy(doc)
        except PolicyError:
            continue
        for st in parsed.statements:
            for c in st.conditions:
                if c.key_lower != "kms:viaservice":
                    continue
                for v in c.values:
                    svc = v.split(".", 1)[0]
                    if not svc or "*" in svc or "?" in svc:
                        continue
                    concrete = f"{svc}.{region}.amazonaws.com"
                    if concrete not in out:
                        out.append(concrete)
    return out


def _reachable_accounts(inf: InForce) -> frozenset[str] | None:
    """The accounts whose principals some Allow statement of the key policy, or some grant, can name (by
    account ID, root, or a role/user/session ARN, which holds its account). None when any principal may be
    named: no policy collected, grants unknown, a wildcard, a unique ID, or an Allow with NotPrincipal.
    A KMS call needs the key policy or a grant, so principals of other accounts are denied: the engine is
    not asked about them."""
    from diag.audit.statements import UNIQUE_ID_RE, principal_account

    if inf.key_policy is None or inf.grants is None:
        return None
    try:
        parsed = parse_policy(inf.key_policy.document)
    except PolicyError:
        return None
    accounts: set[str] = set()
    for st in parsed.statements:
        if st.effect != "Allow":
            continue
        if st.not_principal is not None or (st.principal is not None and st.principal.wildcard):
            return None
        for ptype, value in st.principal.values if st.principal is not None else ():
            if ptype != "AWS":
                continue
            if value == "*" or UNIQUE_ID_RE.match(value):
                return None
            acct = principal_account(value)
            if acct is None:
                return None
            accounts.add(acct)
    for g in inf.grants:
        acct = principal_account(g.grantee_principal) if g.grantee_principal else None
        if acct is None:
            if g.grantee_principal and g.grantee_principal.endswith(".amazonaws.com"):
                continue  # a service principal's grant names no IAM principal
            return None
        accounts.add(acct)
    return frozenset(accounts)


def _text(np: NamedPolicy | None) -> NamedPolicy | None:
    """The policy with its document as JSON text (same parse; the engine then fingerprints it for free)."""
    if np is None or not isinstance(np.document, dict):
        return np
    try:
        text = orjson.dumps(np.document, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return np  # the engine reports it as unreadable, as before
    return dataclasses.replace(np, document=text)


def _as_text(inf: InForce) -> InForce:
    """``inf`` with every policy document as JSON text: each is read many times in one matrix."""

    def levels(lvs: tuple[OrgLevel, ...] | None) -> tuple[OrgLevel, ...] | None:
        if lvs is None:
            return None
        return tuple(OrgLevel(lv.org_identifier, tuple(_text(p) or p for p in lv.policies)) for lv in lvs)

    return dataclasses.replace(
        inf,
        key_policy=_text(inf.key_policy),
        identity_policies=None
        if inf.identity_policies is None
        else tuple(_text(p) or p for p in inf.identity_policies),
        permission_boundary=_text(inf.permission_boundary),
        scps=levels(inf.scps),
        rcps=levels(inf.rcps),
    )


class _Evaluator:
    def __init__(self, con: duckdb.DuckDBPyConnection, at: dt.datetime | None, actions: tuple[str, ...]) -> None:
        self.con = con
        self.at = at  # policies as of (None: the latest)
        self.when = at or times.utcnow(whole_seconds=True)  # the requests' time
        self.actions = actions
        self.callers: dict[str, CallerInfo] = {}
        self.identity_vias: dict[str, list[str]] = {}  # principal ARN → ViaService values of its own policies
        self.caller_sides: dict[str, InForce] = {}
        self.requests: dict[tuple[str, str, str | None], Request] = {}
        self.inputs: dict[int, tuple[InForce, PolicyInputs, tuple[Any, ...] | None]] = {}
        self.decisions: dict[tuple[Any, ...], Any] = {}  # decision key → the engine's answer (diag.audit.decision_key)
        # (id of held inputs, caller, key, via) → decision key without the action
        self.partial_keys: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}
        self.optimistic: InForce | None = None  # the current key's pre-filter inputs
        self.match_memo: dict[Any, Any] = {}  # for decision_key
        self.full = 0

    def caller(self, arn: str, unique_id: str | None) -> CallerInfo:
        from diag.check.run import resolve_caller

        if arn not in self.callers:
            self.callers[arn] = resolve_caller(self.con, arn, self.at, known=(arn, unique_id))
        return self.callers[arn]

    def allowed(self, inf: InForce, caller: CallerInfo, key_arn: str, action: str, via: str | None) -> Any:
        """The engine's decision, as ``diag.check.run.evaluate_access`` makes it (one request per
        caller, key and service, reused across actions: the context does not depend on the action).

        Answers are shared by decision key (``diag.audit.decision_key``): principals that the policies
        cannot tell apart get the engine's answer for the first of them. Only ``decision``,
        ``deciding_layers`` and ``unknown`` of the returned result are meant to be read."""
        from diag.audit.decision_key import decision_key, inputs_key
        from diag.check.run import access_request, inputs_from_inforce
        from diag.policy.engine import evaluate

        k = (caller.arn, key_arn, via)
        base = self.requests.get(k)
        if base is None:
            base = access_request(caller, key_arn, action, via_service=via, at=self.when)[1]
            self.requests[k] = base
        ik = id(inf)
        inputs = self.inputs.get(ik)
        if inputs is None or inputs[0] is not inf:
            pi = inputs_from_inforce(inf)
            inputs = (inf, pi, inputs_key(pi))
            # the key's optimistic inputs and the current pair's: the pre-filter and the full pass alternate
            self.inputs = {i: v for i, v in self.inputs.items() if v[0] is self.optimistic}
            self.inputs[ik] = inputs
            self.partial_keys = {p: v for p, v in self.partial_keys.items() if p[0] in self.inputs}
        # the decision key without the action, once per request context and inputs (the action is added)
        pk = (ik, *k)
        if pk in self.partial_keys:
            partial = self.partial_keys[pk]
        else:
            no_action = dataclasses.replace(base, action="")
            partial = None if inputs[2] is None else decision_key(no_action, inputs[1], inputs[2], self.match_memo)
            self.partial_keys[pk] = partial
        dk = None if partial is None else (partial, action)
        if dk is not None:
            hit = self.decisions.get(dk)
            if hit is not None:
                return hit
        res = evaluate(dataclasses.replace(base, action=action), inputs[1])
        if dk is not None:
            self.decisions[dk] = res
        return res

    def caller_side(self, caller: CallerInfo) -> InForce:
        """The caller's half of the policies in force (identity, boundary, SCPs), read once per principal."""
        from diag.collect.inforce import policies_in_force

        if caller.arn not in self.caller_sides:
            self.caller_sides[caller.arn] = _as_text(
                policies_in_force(
                    self.con, caller_arn=caller.arn, caller_account=caller.account, key_arn=None, at=self.at
                )
            )
        return self.caller_sides[caller.arn]

    def key_access(self, key: KeyRecord, principals: list[tuple[str, str, str, str | None]]) -> KeyAccess:
        from diag.collect.inforce import policies_in_force

        # The key's half (key, key policy, grants, RCPs), read once per key. policies_in_force computes the
        # two halves independently, so combining them gives what it returns for the pair (a test checks it
        # against kmsdiag check, which reads each pair whole).
        key_side = _as_text(
            policies_in_force(self.con, caller_arn=None, caller_account=None, key_arn=key.key_arn, at=self.at)
        )
        key_gaps = tuple(g for g in key_side.gaps if g.what in _KEY_GAPS)
        key_vias = _via_values([key_side.key_policy.document] if key_side.key_policy else [], key.region)
        rows: list[PrincipalAccess] = []
        ruled_out = 0
        reachable = _reachable_accounts(key_side)
        optimistic = dataclasses.replace(
            key_side, identity_policies=None, scps=(), rcps=(), permission_boundary=None, principal=None
        )
        self.optimistic = optimistic
        for arn, account, kind, unique_id in principals:
            if reachable is not None and account not in reachable:
                ruled_out += 1  # no key-policy statement and no grant can even name this account's principals
                continue
            caller = self.caller(arn, unique_id)
            vias = list(key_vias)
            vias += [v for v in self.identity_vias.get(arn, []) if v not in vias and f".{key.region}." in v]
            if not any(
                self.allowed(optimistic, caller, key.key_arn, a, v).decision == Decision.ALLOWED
                for a in self.actions
                for v in [None, *vias]
            ):
                ruled_out += 1
                continue
            self.full += 1
            cs = self.caller_side(caller)
            inf = dataclasses.replace(
                cs,
                key=key_side.key,
                key_policy=key_side.key_policy,
                grants=key_side.grants,
                rcps=key_side.rcps,
                gaps=key_gaps + tuple(g for g in cs.gaps if g.what not in _KEY_GAPS),
            )
            more = _via_values([p.document for p in inf.identity_policies or ()], key.region)
            vias += [v for v in more if v not in vias]
            direct: list[str] = []
            via_allowed: dict[str, list[str]] = {}
            deciding: dict[str, list[str]] = {}
            unverified = False
            for action in self.actions:
                res = self.allowed(inf, caller, key.key_arn, action, None)
                if res.decision == Decision.ALLOWED:
                    direct.append(action)
                    deciding[action] = [str(x) for x in res.deciding_layers]
                    unverified = unverified or bool(res.unknown)
                    continue
                for v in vias:
                    r2 = self.allowed(inf, caller, key.key_arn, action, v)
                    if r2.decision == Decision.ALLOWED:
                        via_allowed.setdefault(v, []).append(action)
                        deciding.setdefault(action, [str(x) for x in r2.deciding_layers])
                        unverified = unverified or bool(r2.unknown)
            if direct or via_allowed:
                rows.append(
                    PrincipalAccess(
                        principal=caller.principal_arn,
                        account=account,
                        kind=kind,
                        direct=tuple(direct),
                        via={k: tuple(v) for k, v in via_allowed.items()},
                        deciding=deciding,
                        unverified=unverified,
                    )
                )
        return KeyAccess(
            key_arn=key.key_arn,
            account=key.account,
            region=key.region,
            aliases=key.aliases,
            key_state=key.key_state,
            key_manager=key.key_manager,
            principals=tuple(rows),
            evaluated=len(principals),
            prefiltered=ruled_out,
            policy_known=key_side.key_policy is not None,
        )


def compute_matrix(
    ctx: AuditContext, *, keys: list[str] | None = None, actions: tuple[str, ...] = MATRIX_ACTIONS
) -> AccessMatrix:
    """The matrix for the context's keys (or only ``keys``) and every collected role and user."""
    started = time.perf_counter()
    at = ctx.collected_at.get(next(iter(ctx.snapshots.values()))) if ctx.pinned and ctx.snapshots else None
    ev = _Evaluator(ctx.con, at, actions)
    regions = sorted({k.region for k in ctx.keys})
    for pol in ctx.identity_policies:
        for holder in pol.holders:
            for region in regions:
                for v in _via_values([pol.document], region):
                    ev.identity_vias.setdefault(holder, [])
                    if v not in ev.identity_vias[holder]:
                        ev.identity_vias[holder].append(v)
    principals = [(p.arn, p.account, p.kind, p.unique_id) for p in ctx.principals if p.kind in ("role", "user")]
    wanted = set(keys) if keys is not None else None
    out = [ev.key_access(k, principals) for k in ctx.keys if (wanted is None or k.key_arn in wanted) and principals]
    return AccessMatrix(
        keys=tuple(out),
        actions=actions,
        at=at,
        accounts=tuple(ctx.accounts),
        seconds=time.perf_counter() - started,
        full_evaluations=ev.full,
    )


def access_matrix(
    con: duckdb.DuckDBPyConnection, *, snapshot_id: int | None = None, keys: list[str] | None = None
) -> AccessMatrix:
    """The "who can use this key" matrix over the collected policies (latest snapshots, or ``snapshot_id``)."""
    from diag.audit.context import AuditContext

    return compute_matrix(AuditContext.load(con, snapshot_id=snapshot_id), keys=keys)
