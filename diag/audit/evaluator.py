"""The one evaluator of "who can use this key": the audit's access matrix (``diag.audit.compute``) and the
blast radius of a fix (``diag.proof.blast``, before and after the change) both decide their cells here.

A cell is (caller, key): every action asked of the engine directly, and each action refused directly
asked again through every ``kms:ViaService`` service the policies name (in the key's region). What it
costs, and how it is shared:

- the policies in force are read in two halves, the key's (key, key policy, grants, RCPs) once per key and
  the caller's (identity policies, boundary, SCPs) once per principal; ``policies_in_force`` computes the
  two halves independently, so combining them gives what it returns for the pair (a test checks the
  matrix against ``kmsdiag check``, which reads each pair whole). Documents become JSON text once per half
  (the engine then fingerprints them for free);
- the request is built directly (``diag.audit.request``), once per caller, key and service;
- answers are shared by decision key (``diag.audit.decision_key``): principals that the policies cannot
  tell apart get the engine's answer for the first of them. A whole cell is shared the same way: its
  answer depends only on the decision key of its direct request (which holds the policies, the caller's
  class and how it matches every principal element, and the context values the policies read) and on the
  services tried, since a request through a service differs from the direct one only in keys that are the
  same for every caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from diag import arn as arns
from diag.audit.decision_key import KeyMemo, decision_key, inputs_key
from diag.audit.request import MatrixCaller, base_request, cell_request, matrix_caller
from diag.audit.statements import UNIQUE_ID_RE, principal_account
from diag.diagnosis.engine_request import inputs_from_inforce
from diag.policy.match import action_matches, resource_matches
from diag.policy.model import Decision, NamedPolicy, OrgLevel, PolicyInputs, Request
from diag.policy.parse import PolicyError, StatementSpec, parse_policy, policy_fingerprint

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import Gap, InForce

KEY_GAPS = frozenset({"key", "keys", "key_policy", "grants", "rcp"})  # gaps of the key's half


@dataclass(frozen=True)
class Cell:
    """What one caller may do with one key: actions allowed directly, and only through a service."""

    direct: tuple[str, ...] = ()
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kms:ViaService value → actions
    deciding: dict[str, list[str]] = field(default_factory=dict)  # action → layers that granted it
    unverified: bool = False  # rests on a layer that was not collected

    def direct_or_via(self) -> bool:
        """Whether some action is allowed, directly or through a service."""
        return bool(self.direct or self.via)

    def actions(self) -> set[str]:
        """Every action allowed, directly or through some service."""
        return set(self.direct) | {a for acts in self.via.values() for a in acts}


class Answer(NamedTuple):
    """What the matrix reads of the engine's result (kept instead of the whole trace)."""

    decision: Decision
    deciding_layers: tuple[str, ...]
    unknown: bool


@dataclass(frozen=True)
class KeyHalf:
    key_arn: str
    region: str
    raw: InForce  # as read
    text: InForce  # documents as JSON text
    gaps: tuple[Gap, ...]
    vias: tuple[str, ...]  # kms:ViaService values of the key policy, in the key's region
    optimistic: PolicyInputs  # key policy and grants only: identity unknown (allowing), no SCP/RCP/boundary
    optimistic_key: tuple[Any, ...] | None


@dataclass(frozen=True)
class CallerHalf:
    raw: InForce  # as read
    text: InForce  # documents as JSON text


def via_values(docs: list[Any], region: str) -> list[str]:
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


def reachable_accounts(inf: InForce) -> frozenset[str] | None:
    """The accounts whose principals some Allow statement of the key policy, or some grant, can name (by
    account ID, root, or a role/user/session ARN, which holds its account). None when any principal may be
    named: no policy collected, grants unknown, a wildcard, a unique ID, or an Allow with NotPrincipal.
    A KMS call needs the key policy or a grant, so principals of other accounts are denied: the engine is
    not asked about them."""
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


def as_text(inf: InForce) -> InForce:
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


def engine_inputs(inf: InForce) -> PolicyInputs:
    """The engine's inputs for a KMS call under ``inf``: the one builder's (None stays None: a gap, never an
    empty policy; the caller's IAM not collected leaves its permission boundary unknown too)."""
    return inputs_from_inforce(inf)


def combine(ks: InForce, cs: InForce) -> InForce:
    """The policies in force for the pair, from the key's half and the caller's half."""
    return dataclasses.replace(
        cs,
        key=ks.key,
        key_policy=ks.key_policy,
        grants=ks.grants,
        rcps=ks.rcps,
        gaps=tuple(g for g in ks.gaps if g.what in KEY_GAPS) + tuple(g for g in cs.gaps if g.what not in KEY_GAPS),
    )


def may_apply(st: StatementSpec, key_arn: str, actions: tuple[str, ...]) -> bool:
    """Whether the statement can apply to one of ``actions`` on the key: False only when no Action value
    (or every NotAction) rules all of them out, or no Resource value can match the key ARN (or a NotResource
    value excludes it); a value with a policy variable may match."""
    if st.actions is not None:
        if not any(action_matches(p, a) for a in actions for p in st.actions):
            return False
    elif st.not_actions is not None and all(any(action_matches(p, a) for p in st.not_actions) for a in actions):
        return False
    if st.resources is not None:
        return any("${" in p or resource_matches(p, key_arn) for p in st.resources)
    if st.not_resources is not None and not any("${" in p for p in st.not_resources):
        return not any(resource_matches(p, key_arn) for p in st.not_resources)
    return True


class MatrixEvaluator:
    """Decides cells, reading each key's and each principal's half of the policies once."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        at: dt.datetime | None,
        actions: tuple[str, ...],
        *,
        when: dt.datetime | None = None,
    ) -> None:
        self.con = con
        self.at = at  # policies as of (None: the latest)
        # the requests' time
        self.when: dt.datetime = when or at or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        self.actions = actions
        self.callers: dict[str, MatrixCaller] = {}
        self.snapshots: Any = None  # one SnapshotIndex for every read (the snapshots do not change meanwhile)
        self.reader: Any = None  # one BatchReader for every half: a few queries per snapshot, not per principal
        self.key_halves: dict[str, KeyHalf] = {}
        self.caller_halves: dict[str, CallerHalf] = {}
        self.decisions: dict[tuple[Any, ...], Answer] = {}  # decision key → the engine's answer
        self.cells: dict[tuple[Any, ...], Cell] = {}  # (decision key of the direct request, services) → cell
        self.admitted: dict[tuple[Any, ...], bool] = {}  # the same key → some action allowed (``admits``)
        self.match_memo = KeyMemo()  # for decision_key
        self.engine_calls = 0
        self.full = 0  # pairs that passed the audit's pre-filter (read whole)
        self.projections: dict[tuple[Any, str], Any] = {}
        self._pair: tuple[Any, ...] = ()
        self._pair_inputs: tuple[PolicyInputs, tuple[Any, ...] | None] | None = None

    # ------------------------------------------------------------------------------------------- halves

    def caller(self, arn: str, account: str, kind: str, unique_id: str | None) -> MatrixCaller:
        if arn not in self.callers:
            self.callers[arn] = matrix_caller(arn, account, kind, unique_id)
        return self.callers[arn]

    def _index(self) -> Any:
        from diag.collect.inforce import SnapshotIndex

        if self.snapshots is None:
            self.snapshots = SnapshotIndex(self.con)
        return self.snapshots

    def _reader(self) -> Any:
        """The connection the halves are read through (``diag.collect.principals_batch.BatchReader``)."""
        from diag.collect.principals_batch import BatchReader

        if self.reader is None:
            self.reader = BatchReader(self.con)
        return self.reader

    def _read_half(
        self, *, caller_arn: str | None, caller_account: str | None, key_arn: str | None
    ) -> tuple[InForce, InForce]:
        """One half of the policies in force at ``self.at`` (a caller's, or a key's), as read and as text."""
        from diag.collect.inforce import policies_in_force

        raw = policies_in_force(
            self._reader(),
            caller_arn=caller_arn,
            caller_account=caller_account,
            key_arn=key_arn,
            at=self.at,
            snapshots=self._index(),
        )
        return raw, as_text(raw)

    def key_half(self, key_arn: str) -> KeyHalf:
        """The key's half of the policies in force (key, key policy, grants, RCPs), read once per key."""
        kh = self.key_halves.get(key_arn)
        if kh is None:
            raw, text = self._read_half(caller_arn=None, caller_account=None, key_arn=key_arn)
            region = arns.region_of(key_arn) or ""
            opt = engine_inputs(
                dataclasses.replace(text, identity_policies=None, scps=(), rcps=(), permission_boundary=None)
            )
            kh = KeyHalf(
                key_arn=key_arn,
                region=region,
                raw=raw,
                text=text,
                gaps=tuple(g for g in text.gaps if g.what in KEY_GAPS),
                vias=tuple(via_values([text.key_policy.document] if text.key_policy else [], region)),
                optimistic=opt,
                optimistic_key=inputs_key(opt),
            )
            self.key_halves[key_arn] = kh
        return kh

    def caller_half(self, caller: MatrixCaller) -> CallerHalf:
        """The caller's half (identity policies, boundary, SCPs), read once per principal."""
        return self.caller_side(caller.arn, caller.account, caller.arn)

    def caller_side(self, caller_arn: str, caller_account: str | None, who: str) -> CallerHalf:
        """The half of the caller ``caller_arn`` (``who``: the principal it is read once for, e.g. the role
        behind a session)."""
        ch = self.caller_halves.get(who)
        if ch is None:
            ch = CallerHalf(*self._read_half(caller_arn=caller_arn, caller_account=caller_account, key_arn=None))
            self.caller_halves[who] = ch
        return ch

    def pair_inputs(self, kh: KeyHalf, ch: CallerHalf) -> tuple[PolicyInputs, tuple[Any, ...] | None]:
        """The engine's inputs for the pair and their ``inputs_key`` (the last pair's are kept)."""
        pk = (kh.key_arn, id(ch))
        if self._pair != pk or self._pair_inputs is None:
            pi = engine_inputs(combine(kh.text, ch.text))
            self._pair, self._pair_inputs = pk, (pi, self.inputs_key(pi, kh.key_arn))
        return self._pair_inputs

    def inputs_key(self, inputs: PolicyInputs, key_arn: str) -> tuple[Any, ...] | None:
        """``inputs_key(inputs)`` with each identity policy reduced to the statements that can apply to a
        matrix action on this key (``may_apply``): a statement that cannot apply changes no decision,
        deciding layer or unknown layer, so roles whose policies differ only there share their answers."""
        ik = inputs_key(inputs)
        if ik is None or inputs.identity_policies is None:
            return ik
        return (tuple(self._projection(p, key_arn) for p in inputs.identity_policies), *ik[1:])

    def _projection(self, np: NamedPolicy, key_arn: str) -> Any:
        fp = policy_fingerprint(np.document)
        hit = self.projections.get((fp, key_arn))
        if hit is None:
            try:
                parsed = parse_policy(np.document, fp)
                sts = parsed.statements
                hit = (
                    "statements",
                    parsed.version,  # how policy variables read (the engine may come to depend on it)
                    tuple(
                        orjson.dumps(st.raw, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
                        for st in sts
                        if may_apply(st, key_arn, self.actions)
                    ),
                )
            except (PolicyError, TypeError):
                hit = ("document", fp)  # the engine reports it as unreadable: no sharing beyond the same text
            self.projections[(fp, key_arn)] = hit
        return hit

    # -------------------------------------------------------------------------------------------- cells

    def _direct(
        self,
        caller: MatrixCaller,
        key_arn: str,
        inputs: PolicyInputs,
        ikey: tuple[Any, ...] | None,
        vias: tuple[str, ...],
    ) -> tuple[Request, tuple[Any, ...] | None, tuple[Any, ...] | None]:
        """The direct request, its decision key, and the key a whole cell is shared by (None: not shared)."""
        base, partial = self._keyed(caller, key_arn, None, inputs, ikey)
        return base, partial, (None if partial is None else (partial, vias))

    def _keyed(
        self, caller: MatrixCaller, key_arn: str, via: str | None, inputs: PolicyInputs, ikey: tuple[Any, ...] | None
    ) -> tuple[Request, tuple[Any, ...] | None]:
        """The request (directly, or through the service ``via``) and its decision key (None: not shared)."""
        request = base_request(caller, key_arn, via, self.when)
        return request, (None if ikey is None else decision_key(request, inputs, ikey, self.match_memo))

    def _allowed(
        self,
        caller: MatrixCaller,
        key_arn: str,
        direct: tuple[Request, tuple[Any, ...] | None],
        inputs: PolicyInputs,
        ikey: tuple[Any, ...] | None,
        vias: tuple[str, ...],
    ) -> Iterator[tuple[str | None, str, Answer]]:
        """Each (service, action, answer) allowed, in order: an action directly (service None), else the same
        action through each service of ``vias`` that allows it. Requests are built lazily: a consumer that
        stops at the first allowed asks no more than it needs."""
        through: dict[str, tuple[Request, tuple[Any, ...] | None]] = {}  # service → (request, its decision key)
        for action in self.actions:
            res = self._decide(*direct, action, inputs)
            if res.decision == Decision.ALLOWED:
                yield None, action, res
                continue
            for v in vias:
                if v not in through:
                    through[v] = self._keyed(caller, key_arn, v, inputs, ikey)
                r2 = self._decide(*through[v], action, inputs)
                if r2.decision == Decision.ALLOWED:
                    yield v, action, r2

    def cell(
        self,
        caller: MatrixCaller,
        key_arn: str,
        inputs: PolicyInputs,
        ikey: tuple[Any, ...] | None,
        vias: tuple[str, ...],
    ) -> Cell:
        """What ``caller`` may do with the key under ``inputs``: each action directly, then each action
        refused directly through each service of ``vias`` (in order)."""
        base, partial, ck = self._direct(caller, key_arn, inputs, ikey, vias)
        if ck is not None:
            hit = self.cells.get(ck)
            if hit is not None:
                return hit
        direct: list[str] = []
        via_allowed: dict[str, list[str]] = {}
        deciding: dict[str, list[str]] = {}
        unverified = False
        for v, action, res in self._allowed(caller, key_arn, (base, partial), inputs, ikey, vias):
            if v is None:
                direct.append(action)
                deciding[action] = list(res.deciding_layers)
            else:
                via_allowed.setdefault(v, []).append(action)
                deciding.setdefault(action, list(res.deciding_layers))
            unverified = unverified or bool(res.unknown)
        out = Cell(tuple(direct), {v: tuple(acts) for v, acts in via_allowed.items()}, deciding, unverified)
        if ck is not None:
            self.cells[ck] = out
        return out

    def admits(
        self,
        caller: MatrixCaller,
        key_arn: str,
        inputs: PolicyInputs,
        ikey: tuple[Any, ...] | None,
        vias: tuple[str, ...],
    ) -> bool:
        """Whether ``cell(...)`` would allow some action: the same requests, stopping at the first allowed
        (shared like cells)."""
        base, partial, ck = self._direct(caller, key_arn, inputs, ikey, vias)
        if ck is not None:
            if ck in self.cells:
                return self.cells[ck].direct_or_via()
            if ck in self.admitted:
                return self.admitted[ck]
        found = next(self._allowed(caller, key_arn, (base, partial), inputs, ikey, vias), None) is not None
        if ck is not None:
            self.admitted[ck] = found
        return found

    def _decide(self, base: Request, partial: tuple[Any, ...] | None, action: str, inputs: PolicyInputs) -> Answer:
        """The engine's answer for ``base`` asked for ``action`` (shared by decision key)."""
        from diag.policy.engine import evaluate

        # the request for the action is a function of the base request, the action and whether it goes
        # through a service (diag.audit.request.cell_request): those three make its decision key
        dk = None if partial is None else (partial, action, "kms:ViaService" in base.context)
        if dk is not None:
            hit = self.decisions.get(dk)
            if hit is not None:
                return hit
        self.engine_calls += 1
        res = evaluate(cell_request(base, action), inputs)
        out = Answer(res.decision, tuple(str(x) for x in res.deciding_layers), bool(res.unknown))
        if dk is not None:
            self.decisions[dk] = out
        return out
