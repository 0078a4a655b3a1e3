"""A whole evidence bundle as the proposed change: the policies it holds replace the ones in force.

The bundle (the layout of ``kmsdiag collect --out-dir``, or one built by hand with the AWS CLI) is loaded
into a private in-memory database, and for each observed call the policies in force there are read the
way the audit matrix reads them (``diag.proof.blast.MatrixDiff``). Layer by layer, what the bundle holds
replaces what is in force now; a layer the bundle does not hold (a file missing or refused: a gap) keeps
the policies in force, never an empty policy: a bundle of the key's account alone changes the key policy
and grants, not the callers' IAM.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import InForce


def load(path: Path) -> duckdb.DuckDBPyConnection:
    """The bundle at ``path`` in a new in-memory database (BadInputError for a folder that is not one)."""
    import duckdb

    from diag.collect.bundle import read_bundle
    from diag.collect.snapshot import load_bundle
    from diag.store.migrations import apply_migrations
    from diag.store.views import refresh_views

    bundle = read_bundle(path)
    con = duckdb.connect(":memory:")
    apply_migrations(con)
    refresh_views(con)
    load_bundle(con, bundle, source="impact-bundle", source_path=str(path))
    return con


def overlay(now: InForce, proposed: InForce) -> InForce:
    """``now`` with every layer that ``proposed`` holds (not a gap) replaced by the proposed one."""
    fields: dict[str, Any] = {}
    if proposed.key_policy is not None:
        fields["key_policy"] = proposed.key_policy
    if proposed.grants is not None:
        fields["grants"] = proposed.grants
    if proposed.identity_policies is not None:  # the caller's IAM: its policies and its boundary
        fields["identity_policies"] = proposed.identity_policies
        fields["permission_boundary"] = proposed.permission_boundary
    if proposed.scps is not None:
        fields["scps"] = proposed.scps
    if proposed.rcps is not None:
        fields["rcps"] = proposed.rcps
    return dataclasses.replace(now, **fields) if fields else now


class ProposedSide:
    """The policies the bundle holds, read once per key and per principal."""

    def __init__(self, path: Path) -> None:
        from diag.proof.blast import MatrixDiff

        self.path = path
        self.con = load(path)
        self.matrix = MatrixDiff(self.con)

    def inforce(self, caller_arn: str, caller_account: str | None, key_arn: str, principal: str | None) -> InForce:
        return self.matrix.inforce(caller_arn, caller_account, key_arn, principal)

    def label(self) -> str:
        return f"the policies of the bundle {self.path}"

    def close(self) -> None:
        self.con.close()
