"""The value of one policy "facet" at time t, from the nearest snapshot and the change events around it.

A facet is one thing that a change event sets as a whole: a key policy, a key state, one grant (present or
not), one inline policy, one managed-policy attachment, a boundary, a bucket policy, an organization
policy's content or one of its attachments. Pure: no database here.

Rules, for a time ``at``:

1. the last change event at or before ``at`` that is newer than the snapshot (any, if the snapshot is after
   ``at``) gives the value: certain;
2. otherwise a snapshot at or before ``at`` gives it: certain;
3. otherwise (the snapshot is after ``at``): when an event changed the facet between ``at`` and the
   snapshot, the value before that event is what was in force, if the event says (a CreateGrant means
   "there was no grant before", a DetachRolePolicy "it was attached"); if it does not (PutKeyPolicy), the
   value is unknown. With no event in between, the later snapshot's value is used, flagged uncertain;
4. no snapshot and no event: unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
ABSENT: Any = None


@dataclass(frozen=True)
class Step:
    """One change event for a facet: the value after it, and the value before it when the event implies it."""

    time: dt.datetime
    after: Any
    before: Any = UNKNOWN
    ref: Any = None  # the change record, for provenance


@dataclass
class AsOf:
    value: Any  # UNKNOWN when it cannot be known
    certain: bool
    source: str  # snapshot, event, later-snapshot, none
    applied: list[Any] = field(default_factory=list)  # refs of the events applied after the snapshot
    note: str = ""

    @property
    def known(self) -> bool:
        return self.value is not UNKNOWN


def value_at(
    snap_value: Any,
    snap_time: dt.datetime | None,
    steps: Sequence[Step],
    at: dt.datetime | None,
    *,
    in_snapshot: bool = True,
) -> AsOf:
    """The facet's value at ``at`` (None = now). ``snap_time`` None: no snapshot at all. ``in_snapshot``
    False: the snapshot did not collect this facet (a gap), so its value only comes from events."""
    steps = sorted(steps, key=lambda s: s.time)
    horizon = at or dt.datetime.max
    snap_before = snap_time is not None and snap_time <= horizon
    if snap_before:
        assert snap_time is not None
        newer = [s for s in steps if snap_time < s.time <= horizon]
        if newer:
            return AsOf(newer[-1].after, True, "event", [s.ref for s in newer])
        if not in_snapshot:
            return AsOf(UNKNOWN, False, "none", note="not collected")
        return AsOf(snap_value, True, "snapshot")
    earlier = [s for s in steps if s.time <= horizon]
    if earlier:
        return AsOf(earlier[-1].after, True, "event", [earlier[-1].ref])
    if snap_time is None:
        return AsOf(UNKNOWN, False, "none", note="no snapshot and no change event")
    between = [s for s in steps if horizon < s.time <= snap_time]
    if between:
        first = between[0]
        if first.before is UNKNOWN:
            return AsOf(
                UNKNOWN, False, "none", note="changed after the time asked about; the earlier value was not collected"
            )
        return AsOf(first.before, True, "event", [], note="value before a later change event")
    if not in_snapshot:
        return AsOf(UNKNOWN, False, "none", note="not collected")
    return AsOf(snap_value, False, "later-snapshot", note="only a snapshot taken after the time asked about")
