"""The AWS authorization engine: pure functions, no I/O, no boto3, no DuckDB.

The data model of requests, inputs and traces lives in ``diag.policy.model``; it is the contract between
the engine and the diagnosis rules. Public entry points (imported lazily so that ``import diag.policy``
stays cheap):

- ``evaluate(request, inputs) -> EvaluationResult`` (``diag.policy.engine``): the decision with every
  layer's trace; evaluation order and AWS rules in that module's docstring.
- ``decide(request, inputs) -> EvaluationResult``: the same decision, reason and deciding layers without
  the statement trace (each layer lists only its applying statements); ``Engine``: an evaluator with
  caches of its own (the module functions share one).
- ``context_keys_read(inputs) -> tuple[str, ...]``: the context keys the policies read (the "context
  that matters" of a decision key).
- ``context_from_event(record) -> dict`` and ``request_from_event(record) -> Request``
  (``diag.policy.context``): the request and its condition keys from a raw CloudTrail record.
- ``simulate_document(doc) -> dict`` (``diag.policy.simulate``): a DESIGN.md section 7 request document.
- ``parse_policy(doc) -> ParsedPolicy`` and ``PolicyError`` (``diag.policy.parse``).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "evaluate": "diag.policy.engine",
    "decide": "diag.policy.engine",
    "Engine": "diag.policy.engine",
    "clear_cache": "diag.policy.engine",
    "context_keys_read": "diag.policy.engine",
    "context_from_event": "diag.policy.context",
    "request_from_event": "diag.policy.context",
    "simulate_document": "diag.policy.simulate",
    "RequestDocumentError": "diag.policy.simulate",
    "parse_policy": "diag.policy.parse",
    "PolicyError": "diag.policy.parse",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diag.policy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
