"""The policies in force for one request at one time: ``policies_in_force``, ``resolve_key``,
``find_keys_elsewhere``, ``collected_regions`` (the API that diagnosis, check and simulate call).

The work is done in ``diag.collect.asof`` (history, snapshots, keys, resolve, principals, organizations,
bucket, inforce); this module names the API in one place. Lookups go through the indexed columns (key ARN,
key ID, alias name, principal name, resource ARN), and only the rows of one request are read, so one call
takes milliseconds on a large database.
"""

from __future__ import annotations

from diag.collect.asof.history import Change, History
from diag.collect.asof.inforce import collected_regions, policies_in_force
from diag.collect.asof.keys import deleted_if_past
from diag.collect.asof.organizations import RCP, SCP
from diag.collect.asof.principals import parse_caller
from diag.collect.asof.resolve import find_keys_elsewhere, resolve_key
from diag.collect.asof.snapshots import Snap, SnapshotIndex, nearest_snapshot

__all__ = [
    "RCP",
    "SCP",
    "Change",
    "History",
    "Snap",
    "SnapshotIndex",
    "collected_regions",
    "deleted_if_past",
    "find_keys_elsewhere",
    "nearest_snapshot",
    "parse_caller",
    "policies_in_force",
    "resolve_key",
]
