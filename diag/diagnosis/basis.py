"""What a stored diagnosis rests on, for the answers that summarize many (``diagnose``, the report).

Each diagnosis carries explain's ``based_on`` (:func:`diag.diagnosis.honesty.based_on`): the record, the
layers seen, the layers not collected, whether the key's metadata was seen, when the policies were true.
``diagnose`` groups its results by verdict, decision and basis; the report shows the basis of each cause.
The one-line text is :func:`diag.diagnosis.honesty.based_on_line`, the same as explain's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from diag.diagnosis.honesty import based_on_line

# A diagnosis stored before kmsdiag recorded its basis (an older database): nothing is claimed about it.
NOT_RECORDED = (
    "based on: not recorded (diagnosed by an older kmsdiag): run `kmsdiag diagnose --all` to see what it rests on"
)
NOT_DIAGNOSED = "based on: nothing yet (not diagnosed): run `kmsdiag diagnose`"
_SHAPE = ("record", "layers_seen", "layers_not_seen", "key_metadata_seen", "policies_as_of", "aws_message_claims")


def group_key(basis: dict[str, Any] | None) -> str:
    """The part of a basis that diagnoses of one group share: what was seen and not seen (not the time the
    policies were true, nor AWS's message, which differ from event to event)."""
    if not basis:
        return "-"
    seen = ",".join(basis.get("layers_seen") or ())
    unseen = ",".join(basis.get("layers_not_seen") or ())
    collected = "policies" if basis.get("policies_as_of") is not None else "no-policies"
    return "|".join([str(basis.get("record")), seen, unseen, str(basis.get("key_metadata_seen")), collected])


def merge(bases: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """One basis for diagnoses that share a :func:`group_key`: the newest ``policies_as_of``; AWS's claim only
    when every message claims the same."""
    items = [b for b in bases if b]
    if not items:
        return None
    out = {k: items[0].get(k) for k in _SHAPE}
    times = [b["policies_as_of"] for b in items if isinstance(b.get("policies_as_of"), dt.datetime | str)]
    out["policies_as_of"] = max(times, key=str) if times else None
    claims = {b.get("aws_message_claims") for b in items}
    out["aws_message_claims"] = claims.pop() if len(claims) == 1 else None
    return out


def line(basis: dict[str, Any] | None, *, diagnosed: bool = True) -> str:
    """``based on: …`` for one basis; says so when the diagnosis is missing or recorded no basis."""
    if not diagnosed:
        return NOT_DIAGNOSED
    if not basis:
        return NOT_RECORDED
    return based_on_line(basis)
