"""Blast radius: the access a change adds (or removes), beyond one call, over the collected principals,
keys and actions — the "who can use this key" matrix of ``kmsdiag audit`` before and after.

Every pair is decided the way the audit matrix decides it (``diag.audit.matrix``): the caller as
``kmsdiag check`` builds it, its half of the policies in force read once, the key's half read once, each
matrix action tried directly and through every ``kms:ViaService`` value the policies name. The change is
applied to a copy of the inputs (``diag.proof.change``) and the pair evaluated again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.policy.model import PolicyInputs, Request
from diag.proof.change import Change, apply

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import InForce


@dataclass
class AccessDiff:
    """(principal, key) → actions allowed before and after the change."""

    added: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    removed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    principals: int = 0
    keys: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    unverified: bool = False

    def rows(self, which: dict[tuple[str, str], list[str]]) -> list[dict[str, Any]]:
        return [{"principal": p, "key_arn": k, "actions": a} for (p, k), a in sorted(which.items())]


_LATEST = (
    "SELECT account, snapshot_id FROM (SELECT *, row_number() OVER (PARTITION BY account ORDER BY collected_at DESC,"
    " snapshot_id DESC) AS rn FROM snapshot_accounts) WHERE rn = 1"
)  # the snapshot per account that `kmsdiag audit` reads (diag.audit.context.AuditContext.load)


_KEY_SIDE = frozenset({"key_policy", "grants", "rcp"})  # changes to the key's half of the policies


@dataclass(frozen=True)
class Who:
    arn: str
    account: str
    kind: str
    unique_id: str | None


class MatrixDiff:
    """Decides pairs before and after changes with the audit matrix's evaluator
    (``diag.audit.evaluator.MatrixEvaluator``: each principal's and each key's half read once, the same
    requests, cells shared by decision key)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, actions: tuple[str, ...] | None = None, at: dt.datetime | None = None
    ) -> None:
        from diag.audit.actions import MATRIX_ACTIONS
        from diag.audit.evaluator import MatrixEvaluator

        self.con = con
        self.at = at  # policies in force at this time (None: now, as `kmsdiag audit` reads them)
        self.actions = actions or MATRIX_ACTIONS
        self.ev = MatrixEvaluator(con, at, self.actions)
        # key ARN → (changes, the key half's policy, grants, RCPs, the fields those changes set or None)
        self._key_after: dict[str, tuple[Any, ...]] = {}
        self._keys: list[tuple[str, str]] | None = None  # read once, like the halves (one explain's life)

    def principals(self, arns: list[str] | None = None) -> list[Who]:
        """The collected roles and users of every account's latest snapshot (or only ``arns``)."""
        rows = self.con.execute(
            f"SELECT p.arn, p.account, p.kind, p.unique_id FROM principals p JOIN ({_LATEST}) s"
            " ON p.account = s.account AND p.snapshot_id = s.snapshot_id WHERE p.kind IN ('role', 'user') ORDER BY p.arn"
        ).fetchall()
        out = [Who(str(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]
        return out if arns is None else [w for w in out if w.arn in arns]

    def keys(self, arns: list[str] | None = None) -> list[tuple[str, str]]:
        """(key ARN, region) of the collected keys of every account's latest snapshot (or only ``arns``)."""
        if self._keys is None:
            rows = self.con.execute(
                f"SELECT DISTINCT k.key_arn, k.region FROM keys k JOIN ({_LATEST}) s"
                " ON k.account = s.account AND k.snapshot_id = s.snapshot_id ORDER BY k.key_arn"
            ).fetchall()
            self._keys = [(str(r[0]), str(r[1])) for r in rows]
        out = self._keys
        return list(out) if arns is None else [k for k in out if k[0] in arns]

    def inforce(
        self, caller_arn: str, caller_account: str | None, key_arn: str, principal: str | None = None
    ) -> InForce:
        """The policies in force for (caller, key) now: the key's half read once per key, the caller's once
        per principal (``principal``: the role behind a session, when the caller knows it), combined as the
        audit matrix combines them."""
        from diag.audit.evaluator import combine

        cs = self.ev.caller_side(caller_arn, caller_account, principal or caller_arn)
        return combine(self.ev.key_half(key_arn).raw, cs.raw)

    def reachable(self, key_arn: str, changes: list[Change]) -> frozenset[str] | None:
        """Accounts whose principals the key policy or grants can name, before or after ``changes`` (the
        audit matrix's sound pre-filter); None when any account may be named."""
        from diag.audit.evaluator import engine_inputs, reachable_accounts

        ks = self.ev.key_half(key_arn).text
        probe = Request(principal="", action="kms:Decrypt", resource=key_arn, resource_account=arns.account_of(key_arn))
        after = apply(engine_inputs(ks), changes, probe, "")
        changed = dataclasses.replace(ks, key_policy=after.resource_policy, grants=after.grants)
        before_acc, after_acc = reachable_accounts(self._ids(ks)), reachable_accounts(self._ids(changed))
        if before_acc is None or after_acc is None:
            return None
        return before_acc | after_acc

    def _ids(self, inf: InForce) -> InForce:
        """``inf`` with unique IDs (AROA…/AIDA…) in the key policy's principals replaced by the root of the
        account whose collected role or user holds the ID, or dropped when none does (a deleted principal's
        ID names nobody), so that the reachable-account pre-filter still applies."""
        import json

        from diag.audit.statements import UNIQUE_ID_RE

        text = str(inf.key_policy.document) if inf.key_policy is not None else ""
        if inf.key_policy is None or not any(
            p in text for p in ("AROA", "AIDA", "AIPA", "ANPA", "ASIA", "AKIA", "AGPA")
        ):
            return inf
        partition = arns.partition_of(inf.key.key_arn if inf.key is not None else inf.key_policy.arn)
        doc = inf.key_policy.document
        doc = json.loads(doc) if isinstance(doc, str) else json.loads(json.dumps(doc))
        sts = doc.get("Statement", [])
        sts = [sts] if isinstance(sts, dict) else list(sts)
        keep = []
        for st in sts:
            keep.append(st)
            aws = (st.get("Principal") or {}).get("AWS") if isinstance(st.get("Principal"), dict) else None
            if aws is None:
                continue
            vals = [aws] if isinstance(aws, str) else list(aws)
            out = []
            for v in vals:
                if isinstance(v, str) and UNIQUE_ID_RE.match(v):
                    row = self.con.execute("SELECT account FROM principals WHERE unique_id = ? LIMIT 1", [v]).fetchone()
                    if row:
                        out.append(arns.root_arn(str(row[0]), partition))
                else:
                    out.append(v)
            if out:
                st["Principal"]["AWS"] = out
            else:
                keep.pop()  # a statement that names only deleted principals names nobody
        doc["Statement"] = keep
        return dataclasses.replace(inf, key_policy=dataclasses.replace(inf.key_policy, document=doc))

    def allowed(self, caller: Any, key_arn: str, region: str, changes: list[Change]) -> tuple[set[str], set[str], bool]:
        """Actions allowed (directly or through a service) before and after ``changes``; unverified flag.
        Each side is one cell of the audit matrix's evaluator, on the inputs before and after."""
        from diag.audit.evaluator import via_values
        from diag.audit.request import base_request, cell_request

        ev = self.ev
        kh = ev.key_half(key_arn)
        before_in, before_key = ev.pair_inputs(kh, ev.caller_half(caller))
        sides = [(before_in, before_key)]
        probe = cell_request(base_request(caller, key_arn, None, ev.when), "kms:Decrypt")
        after_in = self._after(before_in, changes, probe, caller.principal_arn, key_arn)
        if after_in is not before_in:  # apply() returns the same inputs when no change concerns this pair
            sides.append((after_in, ev.inputs_key(after_in, key_arn)))
        out: list[set[str]] = []
        unverified = False
        for inputs, ikey in sides:
            docs = [inputs.resource_policy.document] if inputs.resource_policy else []
            docs += [p.document for p in inputs.identity_policies or ()]
            cell = ev.cell(caller, key_arn, inputs, ikey, tuple(via_values(docs, region)))
            out.append(cell.actions())
            unverified = unverified or cell.unverified
        return out[0], out[-1], unverified

    def _after(
        self, before_in: PolicyInputs, changes: list[Change], probe: Request, principal_arn: str, key_arn: str
    ) -> PolicyInputs:
        """``apply(before_in, changes, probe, principal_arn)``. Changes to the key's half only (key policy,
        grants, RCPs) edit inputs that every caller shares, using only the key of the request: they are
        applied once per key and the edited fields reused for the other callers."""
        if not changes or any(c.kind not in _KEY_SIDE for c in changes):
            return apply(before_in, changes, probe, principal_arn)
        memo = self._key_after.get(key_arn)
        if memo is None or memo[0] is not changes or memo[1] is not before_in.resource_policy:
            after = apply(before_in, changes, probe, principal_arn)
            fields = (
                None
                if after is before_in
                else {f: getattr(after, f) for f in ("resource_policy", "resource_policy_known", "grants", "rcps")}
            )
            memo = (changes, before_in.resource_policy, before_in.grants, before_in.rcps, fields)
            self._key_after[key_arn] = memo
            return after
        if memo[2] is not before_in.grants or memo[3] is not before_in.rcps:
            return apply(before_in, changes, probe, principal_arn)  # another key half: nothing to share
        return before_in if memo[4] is None else dataclasses.replace(before_in, **memo[4])

    def diff(self, changes: list[Change], keys: list[str] | None, principals: list[str] | None) -> AccessDiff:
        key_rows = self.keys(keys)
        people = self.principals(principals)
        d = AccessDiff(principals=len(people), keys=tuple(k for k, _ in key_rows), actions=tuple(self.actions))
        for key_arn, region in key_rows:
            reach = self.reachable(key_arn, changes)
            for p in people:
                if reach is not None and p.account not in reach:
                    continue  # neither the key policy nor a grant can name this account, before or after
                caller = self.ev.caller(p.arn, p.account, p.kind, p.unique_id)
                before, after, unv = self.allowed(caller, key_arn, region, changes)
                d.unverified = d.unverified or unv
                if after - before:
                    d.added[(caller.principal_arn, key_arn)] = sorted(after - before)
                if before - after:
                    d.removed[(caller.principal_arn, key_arn)] = sorted(before - after)
        return d


def _resources(changes: list[Change]) -> list[str] | None:
    """Resource patterns of the statements the changes add or set; None when one is unbounded."""
    out: list[str] = []
    for c in changes:
        docs = [c.statement, c.document]
        for doc in docs:
            if doc is None:
                continue
            sts = doc.get("Statement", doc) if isinstance(doc, dict) else doc
            for st in [sts] if isinstance(sts, dict) else list(sts or []):
                if not isinstance(st, dict) or "NotResource" in st or "Resource" not in st:
                    return None
                res = st["Resource"]
                out += [res] if isinstance(res, str) else [str(r) for r in res]
        if c.op in ("remove_document", "remove_statement", "revoke_grant"):
            return None
    return out


def keys_touched(mdiff: MatrixDiff, changes: list[Change]) -> list[str] | None:
    """The collected keys an identity-side change can reach: those its Resource patterns match."""
    import fnmatch

    pats = _resources(changes)
    if pats is None or any(p == "*" for p in pats):
        return None
    return [k for k, _ in mdiff.keys(None) if any(fnmatch.fnmatchcase(k, p) for p in pats)]


def _short(arn: str) -> str:
    return arns.resource_of(arn) or arn


def blast_radius(
    mdiff: MatrixDiff, changes: list[Change], request: Request, principal_arn: str
) -> dict[str, Any] | None:
    """The access ``changes`` add beyond the failing call, as JSON (None when nothing can be computed)."""
    key = request.resource
    if arns.service_of(key) != "kms":
        return None
    kinds = {c.kind for c in changes}
    identity_side = kinds <= {"identity", "permission_boundary", "session_policy"}
    # an SCP/RCP statement reaches every key of its accounts: the radius is computed on this key only (scope)
    keys = keys_touched(mdiff, changes) if identity_side else [key]
    people = [principal_arn] if identity_side else None
    scope = (
        f"{_short(principal_arn)} × the keys its new statements name"
        if identity_side
        else "every collected role and user × this key"
    )
    if not mdiff.keys([key]):
        return None
    d = mdiff.diff(changes, keys, people)
    beyond = {pk: acts for pk, acts in d.added.items() if pk != (principal_arn, key) or acts != [request.action]}
    beyond = {pk: [a for a in acts if pk != (principal_arn, key) or a != request.action] for pk, acts in beyond.items()}
    beyond = {pk: a for pk, a in beyond.items() if a}
    exact = d.added.get((principal_arn, key)) == [request.action] and not beyond
    if exact:
        summary = f"adds exactly {_short(principal_arn)} {request.action} on this key"
    elif not beyond:
        summary = "adds no access beyond the failing call among the collected principals and keys"
    else:
        others = sorted({p for p, _ in beyond if p != principal_arn})
        accts = sorted({a for a in map(arns.account_of, others) if a})
        acts = sorted({a for a in (x for v in beyond.values() for x in v)})
        who = f"{len(others)} other principal(s) of {', '.join(accts)}" if others else _short(principal_arn)
        summary = f"also lets {who} {', '.join(acts)}: narrow it to {_short(principal_arn)} and {request.action}"
    return {
        "summary": summary,
        "scope": scope,
        "principals_evaluated": d.principals,
        "keys": list(d.keys),
        "actions": list(d.actions),
        "added": d.rows(d.added),
        "beyond_failing_call": d.rows(beyond),
        "removed": d.rows(d.removed),
        "unverified": d.unverified,
    }


def blast_for_source(source: Any, request: Request, at: dt.datetime | None = None) -> Any:
    """A blast-radius function for the pipeline, when its policies come from the database; else None."""
    con = getattr(source, "con", None)
    if con is None:
        return None
    principal = str(request.context.get("aws:PrincipalArn") or request.principal)
    state: dict[str, MatrixDiff] = {}

    def run(changes: list[Change]) -> dict[str, Any] | None:
        if "m" not in state:
            state["m"] = MatrixDiff(con, at=at)
            # the diagnosis's reads, when it kept them (DbPolicySource(one_explain=True)): the key's half and
            # the history it needs were read for the diagnosis already
            state["m"].ev.reader = getattr(source, "reader", None) or state["m"].ev.reader
            state["m"].ev.snapshots = getattr(source, "snapshots", None) or state["m"].ev.snapshots
        return blast_radius(state["m"], changes, request, principal)

    return run
