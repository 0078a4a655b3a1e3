"""The "who can use this key" matrix of `kmsdiag audit`: every collected role and user × every key × common
KMS actions, decided by the policy engine.

The answer's types are in ``diag.audit.access``, the computation in ``diag.audit.compute`` and the one
evaluator of a cell (shared with the blast radius of a fix) in ``diag.audit.evaluator``.
``access_matrix(con)`` loads the audit's context (each account's latest snapshot) and computes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diag.audit.access import MATRIX_ACTIONS, AccessMatrix, KeyAccess, PrincipalAccess
from diag.audit.compute import compute_matrix
from diag.audit.context import AuditContext

if TYPE_CHECKING:
    import duckdb

__all__ = ["MATRIX_ACTIONS", "AccessMatrix", "KeyAccess", "PrincipalAccess", "access_matrix", "compute_matrix"]


def access_matrix(
    con: duckdb.DuckDBPyConnection, *, snapshot_id: int | None = None, keys: list[str] | None = None
) -> AccessMatrix:
    """The "who can use this key" matrix over the collected policies (latest snapshots, or ``snapshot_id``)."""
    return compute_matrix(AuditContext.load(con, snapshot_id=snapshot_id), keys=keys)
