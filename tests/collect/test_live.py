"""Live collection against moto: two accounts through AssumeRole, a refused key policy, bundle round trip."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from diag.collect import kms as kms_mod
from diag.collect.bundle import read_bundle
from diag.collect.inforce import policies_in_force, resolve_key
from diag.collect.live import collect_live
from diag.collect.permissions import ACTION_OPERATIONS, READ_ONLY_ACTIONS, UNGATED_OPERATIONS
from diag.collect.snapshot import load_bundle, snapshot_contents
from diag.config import AccountConfig, Config
from diag.store import open_db
from tests.collect.world import COLLECTOR, A, World, build_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch):
    with mock_aws():
        w = build_world()
        real = kms_mod.get_key_policy
        refused_id = w.keys["refused"].rsplit("/", 1)[1]

        def get_key_policy(client: Any, key_id: str) -> dict[str, Any]:
            if key_id == refused_id:
                from botocore.exceptions import ClientError

                raise ClientError(
                    {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetKeyPolicy"
                )
            return real(client, key_id)

        monkeypatch.setattr(kms_mod, "get_key_policy", get_key_policy)
        yield w


def _config(w: World) -> Config:
    return Config(
        accounts=(
            AccountConfig(account_id=A, role_arn=f"arn:aws:iam::{A}:role/{COLLECTOR}", buckets=(w.bucket,)),
            AccountConfig(account_id=w.b, role_arn=f"arn:aws:iam::{w.b}:role/{COLLECTOR}", external_id="x-1"),
        ),
        regions=("us-east-1",),
        max_workers=4,
    )


def test_live_collection_two_accounts(world: World, tmp_path: Path, db_path: Path) -> None:
    w = world
    con = open_db(db_path)
    result = collect_live(con, _config(w), out_dir=tmp_path / "bundle")
    assert result.accounts == [A, w.b] and result.refused_accounts == []
    c = snapshot_contents(con, result.snapshot_id)
    states = {k["key_arn"]: k["key_state"] for k in c["keys"]}
    assert states[w.keys["data"]] == "Enabled"
    assert states[w.keys["disabled"]] == "Disabled"
    assert states[w.keys["pending"]] == "PendingDeletion"
    # the refused key policy is a gap for that key only; the other keys' policies were collected
    policy_keys = {p["key_arn"] for p in c["key_policies"]}
    assert (
        w.keys["refused"] not in policy_keys and {w.keys["data"], w.keys["disabled"], w.keys["pending"]} <= policy_keys
    )
    refused = [g for g in c["collection_gaps"] if g["what"] == "key_policy"]
    assert [(g["resource"], g["error"]) for g in refused] == [(w.keys["refused"], "AccessDeniedException")]
    assert "aws kms get-key-policy" in refused[0]["how_to_collect"]

    inf = policies_in_force(con, caller_arn=w.session_arn, caller_account=w.b, key_arn=w.keys["data"], bucket=w.bucket)
    assert inf.key is not None and inf.key.aliases == ("alias/data-key",) and inf.key.key_manager == "CUSTOMER"
    assert inf.key_policy is not None and inf.key_policy.document == w.key_policy
    assert inf.grants is not None and [g.grant_id for g in inf.grants] == [w.grant_id]
    assert inf.principal is not None and inf.principal.arn == w.role_arn and inf.principal.unique_id
    assert inf.identity_policies is not None
    assert {(p.kind, p.name) for p in inf.identity_policies} == {("inline", "use-data-key"), ("managed", "ReadData")}
    assert [p.document for p in inf.identity_policies if p.kind == "inline"] == [w.inline]
    assert inf.permission_boundary is not None and inf.permission_boundary.arn == w.boundary_arn
    assert inf.scps is not None
    assert [lvl.org_identifier for lvl in inf.scps] == [
        w.root_id,
        f"{w.root_id}/{w.ou_id}",
        f"{w.root_id}/{w.ou_id}/{w.b}",
    ]
    assert [sorted(p.name for p in lvl.policies) for lvl in inf.scps] == [
        ["FullAWSAccess"],
        ["DenyKeyDeletion", "FullAWSAccess"],
        ["FullAWSAccess"],
    ]
    assert inf.rcps == ()  # the key is in the management account: RCPs do not apply
    assert inf.bucket_policy is not None and inf.bucket_policy.document["Statement"][0]["Sid"] == "ReadFromB"
    assert inf.bucket_encryption is not None
    assert inf.gaps == ()

    # a key in the member account: the RCPs of its path apply (root and the OU's own RCP)
    member = policies_in_force(con, caller_arn=w.session_arn, caller_account=w.b, key_arn=w.b_key)
    assert member.rcps is not None
    assert [sorted(p.name for p in lvl.policies) for lvl in member.rcps] == [
        ["RCPFullAWSAccess"],
        ["OrgOnlyKms", "RCPFullAWSAccess"],
        ["RCPFullAWSAccess"],
    ]

    info = resolve_key(con, "alias/data-key", region="us-east-1", account=A)
    assert info is not None and info.key_arn == w.keys["data"]

    # bundle: owner-only files, and loading it gives the same snapshot
    bundle_dir = tmp_path / "bundle"
    for path in [bundle_dir, *bundle_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    roots = json.loads((bundle_dir / A / "organizations" / "list-roots.json").read_text())
    assert [r["Id"] for r in roots["Roots"]] == [w.root_id]  # the evidence of which policy types are in use
    enabled = {t["Type"] for t in roots["Roots"][0]["PolicyTypes"] if t["Status"] == "ENABLED"}
    assert enabled == {"SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"}
    assert len(c["org_roots"]) == 1
    errors = json.loads((bundle_dir / A / "errors.json").read_text())
    assert errors[0]["call"] == "kms get-key-policy" and errors[0]["error"] == "AccessDeniedException"
    policy_file = json.loads(
        (bundle_dir / A / "kms" / "us-east-1" / w.keys["data"].rsplit("/", 1)[1] / "get-key-policy.json").read_text()
    )
    assert json.loads(policy_file["Policy"]) == w.key_policy  # the JSON string, as `aws kms get-key-policy` prints it
    again = load_bundle(con, read_bundle(bundle_dir))
    assert again != result.snapshot_id
    assert snapshot_contents(con, again) == c
    con.close()


def test_collect_calls_exactly_the_documented_actions(
    world: World, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.client import BaseClient

    called: set[tuple[str, str]] = set()
    real = BaseClient._make_api_call

    def record(self: Any, operation: str, params: Any) -> Any:
        called.add((self.meta.service_model.service_name, operation))
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    con = open_db(db_path)
    collect_live(con, _config(world))
    con.close()
    needed = {op: action for action, op in ACTION_OPERATIONS.items()}
    assert called - set(needed) <= UNGATED_OPERATIONS, called - set(needed)
    # GetKeyPolicy of the refused key is injected, the others went through: every action is exercised
    assert {needed[op] for op in called if op in needed} == set(READ_ONLY_ACTIONS)


def test_refused_account_is_a_gap_and_others_go_on(world: World, db_path: Path) -> None:
    cfg = _config(world)
    bad = AccountConfig(account_id="333333333333", profile="no-such-profile")
    # no bucket in the config: the bucket comes from an ingested S3 event logged by its owner's trail
    accounts = (AccountConfig(account_id=A, role_arn=cfg.accounts[0].role_arn), cfg.accounts[1], bad)
    cfg = Config(accounts=accounts, regions=cfg.regions, max_workers=2)
    con = open_db(db_path)
    con.execute(
        "INSERT INTO events (event_id, event_time, event_source, event_name, bucket, recipient_account)"
        " VALUES ('e1', TIMESTAMP '2026-11-28 10:00:00', 's3.amazonaws.com', 'GetObject', ?, ?)",
        [world.bucket, A],
    )
    result = collect_live(con, cfg)
    buckets = con.execute(
        "SELECT account, bucket, policy_known FROM bucket_policies WHERE snapshot_id = ?", [result.snapshot_id]
    ).fetchall()
    assert buckets == [(A, world.bucket, True)]
    assert len(result.refused_accounts) == 1 and "no-such-profile" in result.refused_accounts[0]
    gaps = con.execute(
        "SELECT what, error FROM collection_gaps WHERE snapshot_id = ? AND account = '333333333333' ORDER BY what",
        [result.snapshot_id],
    ).fetchall()
    assert ("account", "CredentialsRefused") in gaps
    assert con.execute("SELECT count(*) FROM keys WHERE snapshot_id = ?", [result.snapshot_id]).fetchone()[0] == 5
    con.close()


def test_refused_account_gaps_say_what_aws_refused(world: World, db_path: Path) -> None:
    """Live, a refused account's gaps name the call, the account and the error: nothing is "missing from the
    bundle", AWS refused it."""
    bad = AccountConfig(account_id="333333333333", profile="no-such-profile")
    cfg = Config(accounts=(_config(world).accounts[0], bad), regions=("us-east-1",), max_workers=2)
    con = open_db(db_path)
    result = collect_live(con, cfg)
    gaps = con.execute(
        "SELECT what, call, error, message FROM collection_gaps WHERE snapshot_id = ? AND account = '333333333333'"
        " ORDER BY what",
        [result.snapshot_id],
    ).fetchall()
    con.close()
    assert [g[0] for g in gaps] == ["account", "identity"]
    for _what, _call, error, message in gaps:
        assert "missing from the bundle" not in message
        assert error == "CredentialsRefused" and "sts get-caller-identity" in message
        assert "no-such-profile" in message
    identity = gaps[1][3]
    assert "AWS refused" in identity and "333333333333" in identity


def test_no_transaction_is_open_while_aws_is_called(
    world: World, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every AWS call is made before the write transaction opens: during a call the database is free (a
    transaction can start) and holds no part of the new snapshot; a kill during the calls changes nothing."""
    from diag.collect import iam as iam_mod

    con = open_db(db_path)
    before = con.execute("SELECT count(*) FROM snapshots").fetchone()
    seen: list[tuple[Any, ...]] = []
    real_fetch = iam_mod.fetch

    def fetch(client: Any, bundle: Any, account: str) -> None:
        con.execute("BEGIN TRANSACTION")  # raises if collect_live's transaction were open
        seen.append((account, con.execute("SELECT count(*) FROM snapshots").fetchone()))
        con.execute("ROLLBACK")
        real_fetch(client, bundle, account)

    monkeypatch.setattr(iam_mod, "fetch", fetch)
    result = collect_live(con, _config(world))
    assert [a for a, _ in seen] == [A, world.b] and all(n == before for _, n in seen)
    assert con.execute("SELECT count(*) FROM keys WHERE snapshot_id = ?", [result.snapshot_id]).fetchone()[0] == 5

    def killed(client: Any, bundle: Any, account: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(iam_mod, "fetch", killed)
    counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("snapshots", "keys", "collection_gaps")]
    with pytest.raises(KeyboardInterrupt):
        collect_live(con, _config(world))
    assert [
        con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("snapshots", "keys", "collection_gaps")
    ] == counts
    con.close()
