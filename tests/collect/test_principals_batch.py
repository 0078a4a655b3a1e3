"""BatchReader (diag.collect.principals_batch): every principal's half of the policies in force read through
it is the one ``policies_in_force`` reads from the database, and its queries do not grow with principals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diag.collect.inforce import policies_in_force
from diag.collect.principals_batch import BatchReader
from diag.store import open_db
from tests.audit.bundles import CALLER_ACCOUNT, KEY_ACCOUNT, KEY_ARN, BundleBuilder, policy, root_statement

KMS = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("batch")
    b = BundleBuilder()
    b.key(policy_doc=policy(root_statement()))
    managed = b.managed_policy("KmsRead", policy(KMS))
    for i in range(12):
        b.role(f"app-{i:02d}", inline={"kms": policy(KMS)} if i % 2 else None, managed=(managed,) if i % 3 else ())
    b.user("alice", inline={"kms": policy(KMS)})
    b.user("bob")
    b.role(
        "admin", account=KEY_ACCOUNT, inline={"all": policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})}
    )
    path = tmp / "b.duckdb"
    con = open_db(path)
    b.load(con, tmp / "bundle")
    con.close()
    return path


@pytest.mark.parametrize("at", [None, dt.datetime(2026, 11, 29, 8, 0), dt.datetime(2026, 1, 1)])
def test_every_half_equals_the_direct_read_and_later_principals_cost_no_query(db: Path, at: dt.datetime | None) -> None:
    con = open_db(db, read_only=True)
    try:
        callers = con.execute(
            "SELECT arn, account FROM principals WHERE kind IN ('role', 'user') ORDER BY account, arn"
        ).fetchall()
        assert len(callers) == 15
        reader = BatchReader(con)
        per_account: dict[str, list[int]] = {}
        for arn, account in callers:
            before = reader.queries
            direct = policies_in_force(con, caller_arn=arn, caller_account=account, at=at)
            batched = policies_in_force(reader, caller_arn=arn, caller_account=account, at=at)  # type: ignore[arg-type]
            assert batched == direct, arn
            per_account.setdefault(account, []).append(reader.queries - before)
        # each table of a snapshot is read once, by the first principal that needs it (the first role with a
        # managed policy reads managed_policies); every other principal is answered from what was read
        assert set(per_account) == {CALLER_ACCOUNT, KEY_ACCOUNT}
        for account, counts in per_account.items():
            assert counts[0] > 0 and sum(1 for n in counts if n) <= 2, (account, counts)
        assert sum(per_account[CALLER_ACCOUNT]) < len(per_account[CALLER_ACCOUNT])
        assert reader.answered > 0
    finally:
        con.close()


def test_key_half_through_the_reader_equals_the_direct_read(db: Path) -> None:
    con = open_db(db, read_only=True)
    try:
        direct = policies_in_force(con, caller_arn=None, caller_account=None, key_arn=KEY_ARN)
        batched = policies_in_force(BatchReader(con), caller_arn=None, caller_account=None, key_arn=KEY_ARN)  # type: ignore[arg-type]
        assert batched == direct and batched.key_policy is not None
    finally:
        con.close()
