"""Who can use each key, across accounts: every collected role and user × every key × common KMS actions,
decided by the policy engine (``diag.audit.evaluator``: the request `kmsdiag check` asks, built directly).

An action denied on a direct call is tried again through each service that a ``kms:ViaService``
condition of the key policy or the principal's identity policies names (in the key's region), so a key
restricted to S3 shows "Decrypt via s3.us-east-1.amazonaws.com" rather than nothing.

Cost: a sound pre-filter first evaluates the key policy and grants alone, with the identity layer unknown
(counted as allowing) and no SCP/RCP/boundary: the most permissive reading. A principal denied there is
denied for real, so the caller's half of the policies in force is only read for the pairs that pass.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Protocol

from diag.audit.access import MATRIX_ACTIONS, AccessMatrix, KeyAccess, PrincipalAccess
from diag.audit.evaluator import MatrixEvaluator, reachable_accounts, via_values

if TYPE_CHECKING:
    import duckdb

    from diag.audit.records import IdentityPolicyRecord, KeyRecord, PrincipalRecord

Principal = tuple[str, str, str, str | None]  # ARN, account, kind, unique ID


class MatrixScope(Protocol):
    """What the matrix reads of the audit's context (``diag.audit.context.AuditContext``)."""

    con: duckdb.DuckDBPyConnection
    snapshots: dict[str, int]
    collected_at: dict[int, dt.datetime]
    keys: list[KeyRecord]
    principals: list[PrincipalRecord]
    identity_policies: list[IdentityPolicyRecord]
    pinned: bool

    @property
    def accounts(self) -> list[str]: ...


def _identity_vias(ctx: MatrixScope) -> dict[str, list[str]]:
    """Principal ARN → the ViaService values its own identity policies name (every key region)."""
    regions = sorted({k.region for k in ctx.keys})
    out: dict[str, list[str]] = {}
    for pol in ctx.identity_policies:
        for holder in pol.holders:
            for region in regions:
                for v in via_values([pol.document], region):
                    out.setdefault(holder, [])
                    if v not in out[holder]:
                        out[holder].append(v)
    return out


def key_access(
    ev: MatrixEvaluator, key: KeyRecord, principals: list[Principal], identity_vias: dict[str, list[str]]
) -> KeyAccess:
    """One key's row of the matrix: every principal the engine allows at least one action."""
    kh = ev.key_half(key.key_arn)
    rows: list[PrincipalAccess] = []
    ruled_out = 0
    reachable = reachable_accounts(kh.text)
    for arn, account, kind, unique_id in principals:
        if reachable is not None and account not in reachable:
            ruled_out += 1  # no key-policy statement and no grant can even name this account's principals
            continue
        caller = ev.caller(arn, account, kind, unique_id)
        vias = list(kh.vias)
        vias += [v for v in identity_vias.get(arn, []) if v not in vias and f".{key.region}." in v]
        if not ev.admits(caller, key.key_arn, kh.optimistic, kh.optimistic_key, tuple(vias)):
            ruled_out += 1
            continue
        ev.full += 1
        ch = ev.caller_half(caller)
        inputs, ikey = ev.pair_inputs(kh, ch)
        more = via_values([p.document for p in ch.text.identity_policies or ()], key.region)
        vias += [v for v in more if v not in vias]
        cell = ev.cell(caller, key.key_arn, inputs, ikey, tuple(vias))
        if cell.direct_or_via():
            rows.append(
                PrincipalAccess(
                    principal=caller.principal_arn,
                    account=account,
                    kind=kind,
                    direct=cell.direct,
                    via=dict(cell.via),
                    deciding={a: list(layers) for a, layers in cell.deciding.items()},
                    unverified=cell.unverified,
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
        policy_known=kh.text.key_policy is not None,
    )


def compute_matrix(
    ctx: MatrixScope, *, keys: list[str] | None = None, actions: tuple[str, ...] = MATRIX_ACTIONS
) -> AccessMatrix:
    """The matrix for the context's keys (or only ``keys``) and every collected role and user."""
    started = time.perf_counter()
    at = ctx.collected_at.get(next(iter(ctx.snapshots.values()))) if ctx.pinned and ctx.snapshots else None
    ev = MatrixEvaluator(ctx.con, at, actions)
    identity_vias = _identity_vias(ctx)
    principals = [(p.arn, p.account, p.kind, p.unique_id) for p in ctx.principals if p.kind in ("role", "user")]
    wanted = set(keys) if keys is not None else None
    out = [
        key_access(ev, k, principals, identity_vias)
        for k in ctx.keys
        if (wanted is None or k.key_arn in wanted) and principals
    ]
    return AccessMatrix(
        keys=tuple(out),
        actions=actions,
        at=at,
        accounts=tuple(ctx.accounts),
        seconds=time.perf_counter() - started,
        full_evaluations=ev.full,
    )
