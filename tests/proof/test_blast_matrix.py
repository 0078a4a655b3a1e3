"""Blast radius figures agree with `kmsdiag audit`'s matrix computed on the changed policies.

For each change, the access ``MatrixDiff`` computes as added and removed (on the policies as collected,
with the change applied to the engine's inputs) must be exactly the difference between the audit matrix of
a database collected from the bundle as it is and the audit matrix of one collected from the bundle with
the change written into its documents, over every collected principal, key and matrix action.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.audit import access_matrix
from diag.proof.blast import MatrixDiff
from diag.proof.change import Change
from diag.store import open_db
from tests.audit.test_matrix_sharing import CALLER_ACCOUNT, CALLER_ACCOUNT_DECRYPT, KEY_A, build_look_alikes

Cells = dict[tuple[str, str], set[str]]

EVERYONE_IN_222 = {
    "Sid": "EveryoneIn222",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:CallerAccount": CALLER_ACCOUNT}},
}
ONLY_B_ON_A = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": KEY_A}]}
ONLY_B = f"arn:aws:iam::{CALLER_ACCOUNT}:role/OnlyB"

CASES: dict[str, tuple[list[Change], dict[str, Any]]] = {
    "key policy: Principal * for an account": (
        [Change(kind="key_policy", op="add_statement", target=KEY_A, statement=EVERYONE_IN_222)],
        {"key_a_extra": (EVERYONE_IN_222,)},
    ),
    "key policy: a statement removed": (
        [Change(kind="key_policy", op="remove_statement", target=KEY_A, old=CALLER_ACCOUNT_DECRYPT)],
        {"key_a_without": ("CallerAccount",)},
    ),
    "identity: a new inline policy for one role": (
        [Change(kind="identity", op="add_statement", target=ONLY_B, name="extra", statement=ONLY_B_ON_A)],
        {"inline_extra": {"OnlyB": ONLY_B_ON_A}},
    ),
}


def _cells(db: Path) -> Cells:
    con = open_db(db, read_only=True)
    try:
        mx = access_matrix(con)
    finally:
        con.close()
    return {(p.principal, k.key_arn): {a for a, _ in p.allowed()} for k in mx.keys for p in k.principals}


def _diff(before: Cells, after: Cells) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], list[str]]]:
    added = {pk: sorted(after.get(pk, set()) - before.get(pk, set())) for pk in after}
    removed = {pk: sorted(before.get(pk, set()) - after.get(pk, set())) for pk in before}
    return {k: v for k, v in added.items() if v}, {k: v for k, v in removed.items() if v}


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_look_alikes(tmp_path_factory.mktemp("blast") / "before.duckdb")


@pytest.mark.parametrize("case", list(CASES))
def test_blast_radius_is_the_matrix_difference(before: Path, tmp_path: Path, case: str) -> None:
    changes, variant = CASES[case]
    after = build_look_alikes(tmp_path / "after.duckdb", **variant)
    added, removed = _diff(_cells(before), _cells(after))
    assert added or removed, "the case must change some access"

    con = open_db(before, read_only=True)
    try:
        d = MatrixDiff(con).diff(changes, None, None)
    finally:
        con.close()
    assert d.added == added
    assert d.removed == removed
    assert d.principals == 20 and len(d.keys) == 3
