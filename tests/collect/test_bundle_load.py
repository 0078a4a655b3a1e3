"""Loading a bundle written by hand with AWS CLI-shaped JSON, and the policies in force it gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diag.collect.bundle import read_bundle
from diag.collect.inforce import find_keys_elsewhere, policies_in_force, resolve_key
from diag.collect.snapshot import load_bundle, snapshot_contents
from diag.errors import BadInputError
from diag.store import open_db
from tests.collect.handmade import (
    CALLER_ACCOUNT,
    DISABLED_KEY_ID,
    IDENTITY_POLICY,
    KEY_ACCOUNT,
    KEY_ARN,
    KEY_ID,
    KEY_POLICY,
    ROLE_ARN,
    SESSION_ARN,
    write_handmade_bundle,
)


@pytest.fixture
def loaded(tmp_path: Path, db_path: Path):
    bundle = write_handmade_bundle(tmp_path / "bundle")
    con = open_db(db_path)
    sid = load_bundle(con, read_bundle(bundle), source_path=str(bundle))
    yield con, sid
    con.close()


def test_handmade_bundle_loads_every_table(loaded) -> None:
    con, sid = loaded
    c = snapshot_contents(con, sid)
    assert c["collected_at"] == dt.datetime(2026, 11, 28, 12, 0, 0)
    assert c["accounts"] == [KEY_ACCOUNT, CALLER_ACCOUNT]
    keys = {k["key_id"]: k for k in c["keys"]}
    assert keys[KEY_ID]["key_state"] == "Enabled" and keys[KEY_ID]["key_manager"] == "CUSTOMER"
    assert keys[DISABLED_KEY_ID]["key_state"] == "Disabled"
    assert sorted(a["alias_name"] for a in c["aliases"]) == ["alias/aws/s3", "alias/data-key"]
    (grant,) = c["grants"]
    assert grant["operations"] == ["Decrypt"] and grant["creation_date"] == dt.datetime(2025, 11, 24, 16, 0, 0, 500000)
    principals = {p["name"]: p for p in c["principals"]}
    assert principals["DataProcessingRole"]["unique_id"] == "AROAEXAMPLEID1234567"
    assert principals["DataProcessingRole"]["permissions_boundary_arn"].endswith(":policy/Boundary")
    (bucket,) = c["bucket_policies"]
    assert bucket["region"] == "us-east-1" and bucket["policy_known"] and bucket["encryption_known"]
    # the refused key policy is a gap (from errors.json), not an empty policy
    gaps = sorted((g["account"], g["what"], g["error"]) for g in c["collection_gaps"])
    # and a missing file is a gap too: the key account's IAM was not in this bundle
    assert gaps == [(KEY_ACCOUNT, "identity", "NotCollected"), (KEY_ACCOUNT, "key_policy", "AccessDeniedException")]
    assert {r["key_arn"] for r in c["key_policies"]} == {KEY_ARN}


def test_policies_in_force_from_handmade_bundle(loaded) -> None:
    con, sid = loaded
    at = dt.datetime(2026, 11, 28, 13, 0, 0)
    inf = policies_in_force(
        con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, bucket="data-bucket-111", at=at
    )
    assert inf.snapshot_id == sid and inf.collected_at == dt.datetime(2026, 11, 28, 12, 0)
    assert inf.key is not None and inf.key.key_state == "Enabled" and inf.key.aliases == ("alias/data-key",)
    assert inf.key_policy is not None and inf.key_policy.document == KEY_POLICY
    assert inf.principal is not None and inf.principal.arn == ROLE_ARN
    assert inf.identity_policies is not None
    by_kind = {(p.kind, p.name): p.document for p in inf.identity_policies}
    assert by_kind[("inline", "kms-decrypt")] == IDENTITY_POLICY
    assert by_kind[("managed", "ReadS3")]["Statement"][0]["Action"] == "s3:GetObject"  # the default version
    assert inf.permission_boundary is not None and inf.permission_boundary.document["Statement"][0]["Action"] == [
        "kms:*",
        "s3:*",
    ]
    assert inf.grants is not None and [g.operations for g in inf.grants] == [("Decrypt",)]
    assert inf.scps is not None and [lvl.org_identifier for lvl in inf.scps] == [
        "r-ab12",
        "r-ab12/ou-ab12-11111111",
        f"r-ab12/ou-ab12-11111111/{CALLER_ACCOUNT}",
    ]
    assert all(lvl.policies[0].name == "FullAWSAccess" for lvl in inf.scps)
    assert inf.rcps == ()  # no RCP in the organization
    assert inf.bucket_policy is not None and inf.bucket_policy.document["Statement"][0]["Effect"] == "Deny"
    assert inf.gaps == () and inf.uncertain == ()


def test_refused_key_policy_is_a_gap_with_the_command(loaded) -> None:
    con, _ = loaded
    arn = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:key/{DISABLED_KEY_ID}"
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=arn, at=None)
    assert inf.key is not None and inf.key.key_state == "Disabled"
    assert inf.key_policy is None
    (gap,) = [g for g in inf.gaps if g.what == "key_policy"]
    assert "AccessDenied" in gap.reason
    assert gap.how_to_collect.startswith(
        f"mkdir -p BUNDLE/111111111111/kms/us-east-1/{DISABLED_KEY_ID} && aws kms get-key-policy --key-id"
        f" {DISABLED_KEY_ID} --policy-name default"
    )


def test_resolve_key_by_every_reference(loaded) -> None:
    con, _ = loaded
    for ref in (KEY_ARN, KEY_ID, "alias/data-key", f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:alias/data-key"):
        info = resolve_key(con, ref, region="us-east-1", account=KEY_ACCOUNT)
        assert info is not None and info.key_arn == KEY_ARN, ref
    assert resolve_key(con, "alias/nope", region="us-east-1", account=KEY_ACCOUNT) is None
    assert resolve_key(con, KEY_ID, region="eu-west-1", account=KEY_ACCOUNT) is None
    (elsewhere,) = find_keys_elsewhere(con, KEY_ID, region="eu-west-1", account=KEY_ACCOUNT)
    assert elsewhere.region == "us-east-1"
    assert find_keys_elsewhere(con, "alias/data-key", region="us-east-1", account=KEY_ACCOUNT) == []


def test_missing_files_are_gaps(tmp_path: Path, db_path: Path) -> None:
    root = write_handmade_bundle(tmp_path / "b")
    (root / KEY_ACCOUNT / "kms" / "us-east-1" / KEY_ID / "list-grants.json").write_text("")  # a failed `aws ... >`
    (root / CALLER_ACCOUNT / "iam" / "get-account-authorization-details.json").unlink()
    con = open_db(db_path)
    load_bundle(con, read_bundle(root))
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN)
    assert inf.grants is None and inf.identity_policies is None and inf.principal is None
    whats = {g.what for g in inf.gaps}
    assert {"grants", "identity"} <= whats
    assert any("get-account-authorization-details" in g.how_to_collect for g in inf.gaps)


@pytest.mark.parametrize(
    "name",
    ["../escape.json", "111111111111/kms/us-east-1/not-a-key/describe-key.json", "111111111111/notes.txt", "README.md"],
)
def test_odd_names_are_refused(tmp_path: Path, name: str) -> None:
    root = write_handmade_bundle(tmp_path / "b")
    target = (root / name) if not name.startswith("..") else (root / KEY_ACCOUNT / "kms" / ".." / ".." / "x" / "y.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("{}")
    with pytest.raises(BadInputError):
        read_bundle(root)


def test_symlinks_are_refused(tmp_path: Path) -> None:
    root = write_handmade_bundle(tmp_path / "b")
    secret = tmp_path / "secret.json"
    secret.write_text('{"Grants": []}')
    link = root / KEY_ACCOUNT / "kms" / "us-east-1" / DISABLED_KEY_ID / "get-key-policy.json"
    link.symlink_to(secret)
    with pytest.raises(BadInputError, match="symbolic link"):
        read_bundle(root)


def test_write_then_read_round_trip(loaded, tmp_path: Path) -> None:
    """A bundle read from disk, written back by kmsdiag and loaded again: the same snapshot."""
    from diag.collect.bundle import write_bundle

    con, sid = loaded
    bundle = read_bundle(write_handmade_bundle(tmp_path / "again"))
    out = write_bundle(bundle, tmp_path / "written")
    sid2 = load_bundle(con, read_bundle(out))
    assert snapshot_contents(con, sid2) == snapshot_contents(con, sid)
    with pytest.raises(Exception, match="not an empty folder"):
        write_bundle(bundle, out)


def test_org_paths_read_by_two_accounts(tmp_path: Path, db_path: Path) -> None:
    """The member account read its own parent, the management account the OU's: one path to the root."""
    import json as _json

    root = write_handmade_bundle(tmp_path / "b")
    (root / KEY_ACCOUNT / "organizations" / "list-parents" / f"{CALLER_ACCOUNT}.json").unlink()
    member = root / CALLER_ACCOUNT / "organizations" / "list-parents"
    member.mkdir(parents=True)
    (member / f"{CALLER_ACCOUNT}.json").write_text(
        _json.dumps({"Parents": [{"Id": "ou-ab12-11111111", "Type": "ORGANIZATIONAL_UNIT"}]})
    )
    (member / "ou-ab12-11111111.json").write_text(_json.dumps({"Parents": [{"Id": "r-ab12", "Type": "ROOT"}]}))
    con = open_db(db_path)
    load_bundle(con, read_bundle(root))
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN)
    assert (
        inf.scps is not None
        and [lvl.org_identifier for lvl in inf.scps][-1] == f"r-ab12/ou-ab12-11111111/{CALLER_ACCOUNT}"
    )
    con.close()


def test_collected_regions(loaded) -> None:
    from diag.collect.inforce import collected_regions

    con, _ = loaded
    assert collected_regions(con, KEY_ACCOUNT) == ("us-east-1",)
    assert collected_regions(con, CALLER_ACCOUNT) == ()
    assert collected_regions(con, "999999999999") is None
    # a key ARN in a region that was not collected: unknown (a gap), not "not found"
    other = KEY_ARN.replace("us-east-1", "eu-west-1")
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=other)
    assert inf.key is None and any(g.what == "key" and g.resource == other for g in inf.gaps)
    # in a collected region, a key that is not there is simply absent (KEY_NOT_FOUND), no gap
    missing = KEY_ARN.replace(KEY_ID, "00000000-0000-0000-0000-000000000000")
    inf = policies_in_force(con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=missing)
    assert inf.key is None and not [g for g in inf.gaps if g.what in ("key", "key_policy")]
