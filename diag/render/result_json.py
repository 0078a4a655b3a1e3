"""An ``EvaluationResult`` as JSON bytes without deep copies: the output of ``kmsdiag simulate --batch``.

The bytes are the same as ``orjson.dumps(result_to_dict(result, doc_id))`` (same keys, order and values):
orjson serializes the frozen trace dataclasses (statements, conditions, near misses, grants) natively,
in field order, which is exactly what ``dataclasses.asdict`` produced, and enum members as their values.
Layer traces are immutable and the engine memoizes them, so each distinct one is serialized once and
reused as an ``orjson.Fragment``; the memo belongs to one ``ResultSerializer`` (one run) and holds the
trace itself, so an ``id`` is never reused while its entry lives.

``fields`` selects top-level keys for a compact output (``decision,deciding_layers``); ``id`` is always
echoed when the document had one.
"""

from __future__ import annotations

from typing import Any

import orjson

from diag.policy.cache import BoundedCache
from diag.policy.model import EvaluationResult, LayerTrace

RESULT_FIELDS = ("decision", "reason", "unknown", "deciding_layers", "cross_account", "undetermined", "layers")
_OPTS = orjson.OPT_NON_STR_KEYS


def parse_fields(text: str) -> tuple[str, ...]:
    """``"decision,deciding_layers"`` → the field names, checked; raises ``ValueError`` naming a bad one."""
    names = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    bad = [f for f in names if f not in RESULT_FIELDS and f != "id"]
    if bad or not names:
        raise ValueError(f"unknown field {bad[0]!r}" if bad else "no field named")
    return tuple(f for f in names if f != "id")


class ResultSerializer:
    """Serializes results of one run; owns the memo of serialized layer traces (bounded, oldest first out)."""

    def __init__(self, fields: tuple[str, ...] | None = None, *, cache_size: int = 1024) -> None:
        self.fields = fields
        self._layers: BoundedCache[int, tuple[LayerTrace, orjson.Fragment]] = BoundedCache(cache_size)

    def _layer(self, lt: LayerTrace) -> orjson.Fragment:
        hit = self._layers.get(id(lt))
        if hit is not None and hit[0] is lt:
            return hit[1]
        frag = orjson.Fragment(
            orjson.dumps(
                {
                    "layer": lt.layer,
                    "account": lt.account,
                    "result": lt.result,
                    "reason": lt.reason,
                    "org_identifier": lt.org_identifier,
                    "statements": lt.statements,
                    "grants": lt.grants,
                },
                option=_OPTS,
            )
        )
        self._layers.put(id(lt), (lt, frag))
        return frag

    def __call__(self, result: EvaluationResult, doc_id: Any = None) -> bytes:
        """The section 7 result object (only ``fields`` when set) as compact JSON bytes, no newline."""
        out: dict[str, Any] = {} if doc_id is None else {"id": doc_id}
        for name in self.fields or RESULT_FIELDS:
            if name == "layers":
                out["layers"] = [self._layer(lt) for lt in result.layers]
            else:
                out[name] = getattr(result, name)
        return orjson.dumps(out, option=_OPTS)
