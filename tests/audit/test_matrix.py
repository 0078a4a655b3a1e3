"""The "who can use this key" matrix is the engine's answer: it agrees with `kmsdiag check` for every
principal and action, listed or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.audit import access_matrix
from diag.audit.matrix import MATRIX_ACTIONS
from diag.check import CheckRequest, check_access
from diag.store import open_db
from tests.audit.bundles import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    OTHER_ACCOUNT,
    ROLE_ARN,
    BundleBuilder,
    grant,
    policy,
    root_statement,
)

SECOND_KEY = "arn:aws:kms:us-east-1:111111111111:key/22222222-2222-2222-2222-222222222222"
VIA = "s3.us-east-1.amazonaws.com"


def _stmt(sid: str, principal: Any, actions: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    st = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("matrix")
    b = BundleBuilder()
    b.key(
        policy_doc=policy(
            root_statement(),
            _stmt("DataProcessing", {"AWS": ROLE_ARN}, ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]),
            _stmt(
                "AnalyticsViaS3",
                {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:role/Analytics"},
                ["kms:Decrypt"],
                {"StringEquals": {"kms:ViaService": VIA}},
            ),
            _stmt("PartnerAccount", {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, ["kms:Decrypt", "kms:Encrypt"]),
        ),
        grants=[grant(f"arn:aws:iam::{CALLER_ACCOUNT}:role/Batch", ["Decrypt", "GenerateDataKey"])],
    )
    b.key("22222222-2222-2222-2222-222222222222")
    b.key(  # a wildcard principal: no account can be ruled out before asking the engine
        "33333333-3333-3333-3333-333333333333",
        policy_doc=policy(
            root_statement(),
            _stmt("PartnersByCondition", "*", ["kms:Decrypt"], {"StringEquals": {"kms:CallerAccount": OTHER_ACCOUNT}}),
        ),
    )
    any_key = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], "Resource": "*"}
    b.role("DataProcessingRole", inline={"kms": policy(any_key)})
    b.role("Analytics", inline={"kms": policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})})
    b.role("Batch")
    b.role("Idle", inline={"kms": policy(any_key)})  # not in the key policy: nothing
    b.role(
        "KeyAdmin",
        account=KEY_ACCOUNT,
        inline={"admin": policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})},
    )
    b.role("NoPolicies", account=KEY_ACCOUNT)
    b.role(
        "PartnerReader",
        account=OTHER_ACCOUNT,
        inline={"kms": policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})},
    )
    b.role("PartnerIdle", account=OTHER_ACCOUNT)
    b.role(
        "PartnerAll",
        account=OTHER_ACCOUNT,
        inline={"kms": policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})},
    )
    path = tmp / "m.duckdb"
    con = open_db(path)
    b.load(con, tmp / "bundle")
    con.close()
    return path


def test_matrix_lists_expected_principals(db: Path) -> None:
    con = open_db(db, read_only=True)
    try:
        mx = access_matrix(con)
    finally:
        con.close()
    ka = mx.for_key(KEY_ARN)
    assert ka is not None
    rows = {p.principal.rsplit("/", 1)[-1]: p for p in ka.principals}
    assert set(rows) == {"DataProcessingRole", "Analytics", "Batch", "KeyAdmin", "PartnerReader", "PartnerAll"}
    assert set(rows["DataProcessingRole"].direct) == {"kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    assert rows["Analytics"].direct == () and rows["Analytics"].via == {VIA: ("kms:Decrypt",)}
    assert set(rows["Batch"].direct) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert rows["Batch"].deciding["kms:Decrypt"] == ["grants"]
    assert set(rows["KeyAdmin"].direct) == set(MATRIX_ACTIONS)
    assert rows["PartnerReader"].direct == ("kms:Decrypt",)
    assert rows["PartnerAll"].direct == ("kms:Decrypt",)
    second = mx.for_key(SECOND_KEY)
    assert second is not None and [p.principal.rsplit("/", 1)[-1] for p in second.principals] == ["KeyAdmin"]
    assert ka.prefiltered > 0  # the pre-filter skipped principals the key policy cannot allow
    third = mx.for_key("arn:aws:kms:us-east-1:111111111111:key/33333333-3333-3333-3333-333333333333")
    assert third is not None
    assert sorted(p.principal.rsplit("/", 1)[-1] for p in third.principals) == ["KeyAdmin", "PartnerAll"]


def test_matrix_agrees_with_check_for_every_principal(db: Path) -> None:
    con = open_db(db, read_only=True)
    try:
        mx = access_matrix(con)
        principals = [
            r[0] for r in con.execute("SELECT DISTINCT arn FROM principals WHERE kind IN ('role', 'user')").fetchall()
        ]
        compared = 0
        for ka in mx.keys:
            listed = {p.principal: p for p in ka.principals}
            for arn in principals:
                row = listed.get(arn)
                direct = check_access(
                    con, CheckRequest(principal=arn, actions=MATRIX_ACTIONS, key=ka.key_arn), use_rules=False
                )
                for ar in direct.results:
                    assert ar.allowed == (row is not None and ar.action in row.direct), (arn, ka.key_arn, ar.action)
                    compared += 1
                for via, actions in row.via.items() if row else ():
                    through = check_access(
                        con,
                        CheckRequest(principal=arn, actions=tuple(actions), key=ka.key_arn, via_service=via),
                        use_rules=False,
                    )
                    assert through.all_allowed, (arn, via)
                    compared += len(actions)
        assert compared >= len(principals) * len(MATRIX_ACTIONS) * 2
    finally:
        con.close()
