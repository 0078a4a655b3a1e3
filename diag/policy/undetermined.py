"""Decisions over condition keys that kmsdiag could not determine.

A request context may mark a key ``diag.policy.context.UNDETERMINED``: kmsdiag knows the key exists in
AWS's request context (or may), but not its value (a role's tags were not collected, the organization was
not readable...). Such a key is not absent: a condition on it is neither true nor false.

``evaluate(request, inputs)`` decides twice: once with every condition on an undetermined key resolved
against the request ("deny" mode: Allow statements do not apply, Deny statements do) and once in its favour
("allow" mode). AWS's evaluation is monotone in each statement's applicability (more Allows never deny more,
more Denies never allow more), so when both modes agree the decision does not depend on the unknown values,
and the "deny" result is returned. When they differ, the "deny" result is returned with
``EvaluationResult.undetermined`` naming the keys read by the conditions that made the difference: the
decision is Unknown until they are collected.

Pure: standard library and ``diag.policy`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from diag.policy.context import UNDETERMINED, UNDETERMINED_ALLOW, is_undetermined
from diag.policy.model import Decision, EvaluationResult, PolicyInputs, Request

Evaluator = Callable[[Request, PolicyInputs], EvaluationResult]


def undetermined_keys(request: Request) -> tuple[str, ...]:
    """The context keys of ``request`` marked undetermined, as given."""
    return tuple(k for k, v in request.context.items() if is_undetermined(v))


def _with_mode(request: Request, value: str) -> Request:
    ctx: dict[str, str | list[str]] = {k: (value if is_undetermined(v) else v) for k, v in request.context.items()}
    return dataclasses.replace(request, context=ctx)


def keys_read(result: EvaluationResult) -> tuple[str, ...]:
    """Keys of undetermined conditions in ``result``'s traces (statements whose other elements matched)."""
    out: dict[str, None] = {}
    for lt in result.layers:
        for st in lt.statements:
            if any(t is not None and not t.matched for t in (st.action, st.resource, st.principal)):
                continue
            for c in st.conditions:
                if c.undetermined:
                    out[c.key] = None
    return tuple(out)


def evaluate(request: Request, inputs: PolicyInputs, *, engine: Evaluator | None = None) -> EvaluationResult:
    """The engine's decision, with ``undetermined`` set when it depends on keys kmsdiag could not determine."""
    if engine is None:
        from diag.policy.engine import evaluate as engine_evaluate

        engine = engine_evaluate
    if not undetermined_keys(request):
        return engine(request, inputs)
    against = engine(_with_mode(request, UNDETERMINED), inputs)
    favour = engine(_with_mode(request, UNDETERMINED_ALLOW), inputs)
    if against.decision == favour.decision:
        return against
    keys = keys_read(against) or keys_read(favour) or undetermined_keys(request)
    return dataclasses.replace(
        against, undetermined=keys, allowed_if_undetermined_hold=favour.decision == Decision.ALLOWED
    )
