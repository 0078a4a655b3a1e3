"""The matrix shares the engine's answers between principals the policies cannot tell apart (decision keys,
whole cells, identity statements that cannot apply to the key left out of the key). Here principals that
look alike but are not: the same policy text except a statement on another key, a NotResource or NotAction
that excludes one key, a Resource with a policy variable, conditions on the caller's ARN, user name and
unique ID, a Deny on one key. Every cell must still be what `kmsdiag check` answers for that principal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.audit import access_matrix
from diag.audit.matrix import MATRIX_ACTIONS
from diag.check import CheckRequest, check_access
from diag.store import open_db
from tests.audit.bundles import CALLER_ACCOUNT, KEY_ACCOUNT, BundleBuilder, grant, policy, root_statement

KEY_A = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/aaaaaaaa-1111-2222-3333-444444444444"
KEY_B = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/bbbbbbbb-1111-2222-3333-444444444444"
KEY_C = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/cccccccc-1111-2222-3333-444444444444"
VIA = "s3.us-east-1.amazonaws.com"
TEAM_ROLE_ID = "AROATEAMROLEIDXXXXXX1"


def _allow(actions: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def _key_statement(sid: str, principal: Any, actions: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    st = {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


CALLER_ACCOUNT_DECRYPT = _key_statement("CallerAccount", {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"}, "kms:Decrypt")


def build_look_alikes(
    path: Path,
    *,
    key_a_extra: tuple[dict[str, Any], ...] = (),
    key_a_without: tuple[str, ...] = (),
    inline_extra: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """The look-alike bundle loaded into a database at ``path`` (a directory is made beside it); the
    variants add statements to key A's policy, drop some by Sid, or add an inline policy to roles by name."""
    b = BundleBuilder()
    key_a = [
        root_statement(),
        _key_statement(
            "TeamRolesByArn",
            {"AWS": "*"},
            ["kms:Decrypt", "kms:Encrypt"],
            {"StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{CALLER_ACCOUNT}:role/team-*"}},
        ),
        CALLER_ACCOUNT_DECRYPT,
        _key_statement("Bob", {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:user/bob"}, "kms:*"),
        _key_statement("ByUniqueId", {"AWS": TEAM_ROLE_ID}, ["kms:DescribeKey", "kms:GenerateDataKey"]),
        {
            "Sid": "NoDeleteButAdmins",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:ScheduleKeyDeletion",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:username": "alice"}},
        },
    ]
    key_a = [st for st in key_a if st.get("Sid") not in key_a_without] + list(key_a_extra)
    b.key(
        KEY_A.rsplit("/", 1)[-1],
        policy_doc=policy(*key_a),
        grants=[grant(f"arn:aws:iam::{CALLER_ACCOUNT}:user/carol", ["Decrypt", "CreateGrant"])],
    )
    b.key(
        KEY_B.rsplit("/", 1)[-1],
        policy_doc=policy(
            root_statement(),
            _key_statement(
                "CallersViaS3",
                {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"},
                ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"],
                {"StringEquals": {"kms:ViaService": VIA}},
            ),
        ),
    )
    b.key(KEY_C.rsplit("/", 1)[-1])  # the default key policy: the key account only
    everything = policy(_allow("kms:*", "*"))
    for name in ("Same1", "Same2", "team-x", "team-y"):
        b.role(name, inline={"kms": everything})
    b.role("team-z", inline={"kms": everything}, role_id=TEAM_ROLE_ID)
    b.role("OnlyA", inline={"kms": policy(_allow("kms:Decrypt", KEY_A))})
    b.role("OnlyB", inline={"kms": policy(_allow("kms:Decrypt", KEY_B))})
    b.role("OnlyBAndC", inline={"kms": policy(_allow("kms:Decrypt", [KEY_B, KEY_C]))})
    b.role("NotA", inline={"kms": policy({"Effect": "Allow", "Action": "kms:*", "NotResource": KEY_A})})
    b.role("NotDecrypt", inline={"kms": policy({"Effect": "Allow", "NotAction": "kms:Decrypt", "Resource": "*"})})
    b.role("Variable", inline={"kms": policy(_allow("kms:*", "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"))})
    b.role(
        "DenyB",
        inline={
            "kms": policy(
                _allow("kms:*", "*"), {"Effect": "Deny", "Action": "kms:*", "Resource": KEY_B}, _allow("s3:*", "*")
            )
        },
    )
    b.role(
        "ViaOnly",
        inline={"kms": policy(_allow("kms:*", "*", Condition={"StringEquals": {"kms:ViaService": VIA}}))},
    )
    b.role("KeyAccountReader", account=KEY_ACCOUNT, inline={"kms": policy(_allow("kms:Decrypt", "*"))})
    b.role("KeyAccountNothing", account=KEY_ACCOUNT)
    b.role("KeyAccountOtherKey", account=KEY_ACCOUNT, inline={"kms": policy(_allow("kms:*", KEY_B))})
    by_name = policy(_allow("kms:*", "*", Condition={"StringEquals": {"aws:username": "alice"}}))
    for user in ("alice", "bob", "carol", "dave"):
        b.user(user, inline={"kms": by_name if user in ("alice", "dave") else everything})
    for role in b.iam[CALLER_ACCOUNT]["RoleDetailList"]:
        extra = (inline_extra or {}).get(role["RoleName"])
        if extra is not None:
            role["RolePolicyList"].append({"PolicyName": "extra", "PolicyDocument": extra})
    con = open_db(path)
    b.load(con, path.parent / (path.stem + "-bundle"))
    con.close()
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_look_alikes(tmp_path_factory.mktemp("sharing") / "s.duckdb")


def test_every_cell_is_what_check_answers(db: Path) -> None:
    con = open_db(db, read_only=True)
    try:
        mx = access_matrix(con)
        principals = [
            r[0] for r in con.execute("SELECT DISTINCT arn FROM principals WHERE kind IN ('role', 'user')").fetchall()
        ]
        assert len(principals) == 20 and len(mx.keys) == 3
        allowed = 0
        for ka in mx.keys:
            listed = {p.principal: p for p in ka.principals}
            for arn in principals:
                row = listed.get(arn)
                direct = check_access(
                    con, CheckRequest(principal=arn, actions=MATRIX_ACTIONS, key=ka.key_arn), use_rules=False
                )
                for ar in direct.results:
                    assert ar.allowed == (row is not None and ar.action in row.direct), (arn, ka.key_arn, ar.action)
                    allowed += ar.allowed
                refused = tuple(a for a in MATRIX_ACTIONS if row is None or a not in row.direct)
                through = check_access(
                    con,
                    CheckRequest(principal=arn, actions=refused, key=ka.key_arn, via_service=VIA),
                    use_rules=False,
                )
                via_rows = set(row.via.get(VIA, ())) if row else set()
                for ar in through.results:
                    assert ar.allowed == (ar.action in via_rows), (arn, ka.key_arn, VIA, ar.action)
                    allowed += ar.allowed
        assert allowed > 50  # the fixture allows a good share of the cells, not nothing
    finally:
        con.close()


def test_look_alikes_differ_where_the_policies_do(db: Path) -> None:
    con = open_db(db, read_only=True)
    try:
        mx = access_matrix(con)
    finally:
        con.close()

    def row(key: str, name: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None:
        ka = mx.for_key(key)
        assert ka is not None
        hit = [p for p in ka.principals if p.principal.rsplit("/", 1)[-1] == name]
        return (hit[0].direct, hit[0].via) if hit else None

    # same text but a statement on another key, a NotResource, a NotAction, a Deny on one key
    assert row(KEY_A, "OnlyA") == (("kms:Decrypt",), {}) and row(KEY_A, "OnlyB") is None
    assert row(KEY_B, "OnlyB") == ((), {VIA: ("kms:Decrypt",)}) == row(KEY_B, "OnlyBAndC")
    assert row(KEY_A, "NotA") is None and row(KEY_A, "NotDecrypt") is None
    assert row(KEY_B, "NotA") == ((), {VIA: ("kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant")})
    assert row(KEY_B, "NotDecrypt") == ((), {VIA: ("kms:GenerateDataKey", "kms:CreateGrant")})
    assert row(KEY_A, "DenyB") == (("kms:Decrypt",), {}) and row(KEY_B, "DenyB") is None
    assert row(KEY_C, "KeyAccountReader") == (("kms:Decrypt",), {}) and row(KEY_C, "KeyAccountOtherKey") is None
    assert row(KEY_A, "Variable") is None  # its ${aws:PrincipalAccount} is not the key's account
    # conditions on the caller's ARN, unique ID and user name
    assert row(KEY_A, "Same1") == (("kms:Decrypt",), {})
    assert row(KEY_A, "team-x") == (("kms:Decrypt", "kms:Encrypt"), {})
    team_z = row(KEY_A, "team-z")
    assert team_z is not None and set(team_z[0]) == {
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
    }
    assert row(KEY_A, "alice") == (("kms:Decrypt",), {}) and row(KEY_A, "dave") is None
    bob = row(KEY_A, "bob")
    assert bob is not None and "kms:PutKeyPolicy" in bob[0] and "kms:ScheduleKeyDeletion" not in bob[0]
    assert row(KEY_A, "carol") == (("kms:Decrypt", "kms:CreateGrant"), {})  # the grant
