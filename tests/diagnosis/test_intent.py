"""WRONG_ASSUMED_ROLE from the policies' intent (diag.rules._intent)."""

from __future__ import annotations

import datetime as dt

from diag.policy.model import Layer, LayerResult
from diag.rules import run_rules

from .builders import CALLER_ACCT, KEY_ARN, case, layer, result, stmt

APP = f"arn:aws:iam::{CALLER_ACCT}:role/invoice-renderer"
USED = ((APP, 4, dt.datetime(2026, 11, 28, 9, 50)),)


def _case(identity_resource: tuple[str, ...] | None, users: tuple[object, ...] = USED):  # type: ignore[no-untyped-def]
    key_stmt = stmt(Layer.KEY_POLICY, 2, sid="AllowRenderer", principal=False, principal_values=(APP,))
    ident = (
        layer(Layer.IDENTITY, LayerResult.IMPLICITLY_DENIED)
        if identity_resource is None
        else layer(
            Layer.IDENTITY,
            LayerResult.IMPLICITLY_DENIED,
            stmt(Layer.IDENTITY, 0, resource=True, resource_values=identity_resource, principal=None),
        )
    )
    res = result(layer(Layer.KEY_POLICY, LayerResult.IMPLICITLY_DENIED, key_stmt), ident)
    return case(res, extra={"key_users": users})


def test_caller_that_no_policy_names_while_the_named_role_uses_the_key() -> None:
    found = run_rules(_case(None))
    assert found[0].code == "WRONG_ASSUMED_ROLE"
    assert found[0].evidence["allowed_principal"] == APP and found[0].evidence["inference"] is True
    assert "4 time(s)" in found[0].summary


def test_no_inference_without_a_successful_use_or_when_the_callers_own_policy_names_the_key() -> None:
    assert "WRONG_ASSUMED_ROLE" not in [f.code for f in run_rules(_case(None, users=()))]
    assert "WRONG_ASSUMED_ROLE" not in [f.code for f in run_rules(_case((KEY_ARN,)))]


# ------------------------------------------------------------------ other identities' policies


LOADER = f"arn:aws:iam::{CALLER_ACCT}:role/ledger-loader"
ADMIN = f"arn:aws:iam::{CALLER_ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KeyAdministrators_4e8a"


def test_a_role_that_only_its_own_identity_policy_sets_up_for_the_key_is_intended() -> None:
    from .builders import facts

    # the key policy names nobody for Decrypt (root delegation only): before, nothing was "intended"
    res = result(layer(Layer.KEY_POLICY, LayerResult.ALLOWED), layer(Layer.IDENTITY, LayerResult.IMPLICITLY_DENIED))
    f = facts(caller_arn=ADMIN, principal_arn=ADMIN, caller_type="AssumedRole")
    users = ((LOADER, 3, dt.datetime(2026, 11, 28, 9, 40)),)
    without = run_rules(case(res, f, extra={"key_users": users}))
    assert "WRONG_ASSUMED_ROLE" not in [x.code for x in without]
    where = f"statement DecryptLedgerExports of inline policy ledger-exports-key of {LOADER}"
    found = run_rules(case(res, f, extra={"key_users": users, "identity_intent": {LOADER: where}}))
    assert found[0].code == "WRONG_ASSUMED_ROLE" and found[0].evidence["allowed_principal"] == LOADER
    assert found[0].evidence["intended_principals"] == {LOADER: where}
    assert "IAM_POLICY_MISSING" not in [x.code for x in found]  # superseded: the caller is the wrong principal


def test_identity_intended_reads_inline_managed_and_group_policies_as_of_the_event(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from diag.diagnosis.intent import identity_intended
    from diag.store.connection import open_db

    con = open_db(Path(str(tmp_path)) / "i.duckdb")
    t = dt.datetime(2026, 11, 28, 9, 0)
    con.execute(
        "INSERT INTO snapshots (snapshot_id, collected_at, source, loaded_at) VALUES (1, ?, 'bundle', ?)", [t, t]
    )
    con.execute(
        "INSERT INTO snapshot_accounts (snapshot_id, account, collected_at, org_state) VALUES (1, ?, ?, 'in_org')",
        [CALLER_ACCT, t],
    )

    def doc(resource: str, action: str = "kms:Decrypt") -> str:
        st = {"Sid": "S", "Effect": "Allow", "Action": [action], "Resource": resource}
        return json.dumps({"Version": "2012-10-17", "Statement": [st]})

    for kind, name, arn, attached, groups in (
        ("role", "ledger-loader", LOADER, [], []),
        ("role", "wide", f"arn:aws:iam::{CALLER_ACCT}:role/wide", [], []),
        ("role", "batch", f"arn:aws:iam::{CALLER_ACCT}:role/batch", ["arn:aws:iam::222222222222:policy/ledger"], []),
        ("group", "auditors", f"arn:aws:iam::{CALLER_ACCT}:group/auditors", [], []),
        ("user", "ana", f"arn:aws:iam::{CALLER_ACCT}:user/ana", [], ["auditors"]),
    ):
        con.execute(
            "INSERT INTO principals (snapshot_id, account, kind, name, arn, attached_policy_arns, groups)"
            " VALUES (1, ?, ?, ?, ?, ?, ?)",
            [CALLER_ACCT, kind, name, arn, attached, groups],
        )
    for arn, kind, pname, d in (
        (LOADER, "role", "ledger-exports-key", doc(KEY_ARN)),
        (f"arn:aws:iam::{CALLER_ACCT}:role/wide", "role", "all-keys", doc("*")),
        (f"arn:aws:iam::{CALLER_ACCT}:group/auditors", "group", "read", doc(KEY_ARN.replace("us-east-1", "*"))),
    ):
        con.execute(
            "INSERT INTO identity_policies (snapshot_id, account, principal_arn, principal_kind, policy_name, document)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            [CALLER_ACCT, arn, kind, pname, d],
        )
    con.execute(
        "INSERT INTO managed_policies (snapshot_id, account, policy_arn, version_id, is_default, document)"
        " VALUES (1, ?, 'arn:aws:iam::222222222222:policy/ledger', 'v2', true, ?),"
        " (1, ?, 'arn:aws:iam::222222222222:policy/ledger', 'v1', false, ?)",
        [CALLER_ACCT, doc(KEY_ARN, "kms:*"), CALLER_ACCT, doc(KEY_ARN, "kms:Encrypt")],
    )
    found = identity_intended(con, KEY_ARN, "kms:Decrypt", t + dt.timedelta(hours=1))
    assert set(found) == {
        LOADER,
        f"arn:aws:iam::{CALLER_ACCT}:role/batch",
        f"arn:aws:iam::{CALLER_ACCT}:user/ana",
    }  # not `wide` (Resource "*": written for every key), not the group itself
    assert "group auditors" in found[f"arn:aws:iam::{CALLER_ACCT}:user/ana"]
    assert set(identity_intended(con, KEY_ARN, "kms:Sign", t)) == {f"arn:aws:iam::{CALLER_ACCT}:role/batch"}
    con.close()


def test_identity_intended_among_the_principals_that_used_the_key(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from diag.diagnosis.intent import identity_intended
    from diag.store.connection import open_db

    con = open_db(Path(str(tmp_path)) / "a.duckdb")
    t = dt.datetime(2026, 11, 28, 9, 0)
    con.execute(
        "INSERT INTO snapshots (snapshot_id, collected_at, source, loaded_at) VALUES (1, ?, 'bundle', ?)", [t, t]
    )
    con.execute(
        "INSERT INTO snapshot_accounts (snapshot_id, account, collected_at, org_state) VALUES (1, ?, ?, 'in_org')",
        [CALLER_ACCT, t],
    )
    doc = json.dumps(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": KEY_ARN}}
    )
    for arn in (LOADER, f"arn:aws:iam::{CALLER_ACCT}:role/other"):
        con.execute(
            "INSERT INTO principals (snapshot_id, account, kind, name, arn) VALUES (1, ?, 'role', 'r', ?)",
            [CALLER_ACCT, arn],
        )
        con.execute(
            "INSERT INTO identity_policies (snapshot_id, account, principal_arn, principal_kind, policy_name, document)"
            " VALUES (1, ?, ?, 'role', 'p', ?)",
            [CALLER_ACCT, arn, doc],
        )
    assert set(identity_intended(con, KEY_ARN, "kms:Decrypt", t)) == {LOADER, f"arn:aws:iam::{CALLER_ACCT}:role/other"}
    assert set(identity_intended(con, KEY_ARN, "kms:Decrypt", t, (LOADER,))) == {LOADER}
    assert identity_intended(con, KEY_ARN, "kms:Decrypt", t, ()) == {}
    con.close()
