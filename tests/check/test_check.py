"""`kmsdiag check` on the guide's walk-through and the classic failures, through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from diag.check import CheckRequest, check_access
from diag.check.request import load_requests, parse_as_of, split_context
from diag.store import open_db
from tests.audit.bundles import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    ROLE_ARN,
    BundleBuilder,
    grant,
    policy,
    root_statement,
)

USE = ["kms:Decrypt", "kms:GenerateDataKey"]
ALLOW_ROLE = {
    "Sid": "AllowDataProcessingRole",
    "Effect": "Allow",
    "Principal": {"AWS": ROLE_ARN},
    "Action": USE,
    "Resource": "*",
}
IAM_DOC = policy({"Sid": "UseDataKey", "Effect": "Allow", "Action": USE, "Resource": KEY_ARN})


def _db(tmp_path: Path, key_policy: dict[str, Any], *, iam: bool, grants: list[dict[str, Any]] | None = None) -> Path:
    b = BundleBuilder()
    b.key(policy_doc=key_policy, aliases=("alias/data-key",), grants=grants)
    b.role("DataProcessingRole", inline={"kms": IAM_DOC} if iam else None)
    b.role("Admin", account=KEY_ACCOUNT)
    db = tmp_path / "k.duckdb"
    con = open_db(db)
    b.load(con, tmp_path / "bundle")
    con.close()
    return db


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The walk-through's end state (key policy + IAM), shared by the tests that only read it."""
    return _db(tmp_path_factory.mktemp("ready"), policy(root_statement(), ALLOW_ROLE), iam=True)


def _check(db: Path, *actions: str, principal: str = ROLE_ARN, key: str = KEY_ARN, **kw: Any):
    con = open_db(db, read_only=True)
    try:
        return check_access(con, CheckRequest(principal=principal, actions=tuple(actions), key=key, **kw))
    finally:
        con.close()


def _deciding(r) -> list[str]:
    return [str(x) for x in r.result.deciding_layers]


# ------------------------------------------------------------------------------------ the walk-through


def test_walkthrough_step0_no_key_policy_statement(tmp_path: Path) -> None:
    db = _db(tmp_path, policy(root_statement()), iam=True)
    res = _check(db, "kms:Decrypt")
    assert not res.all_allowed
    assert _deciding(res.results[0]) == ["key_policy"]
    assert res.caller.arn == f"arn:aws:sts::{CALLER_ACCOUNT}:assumed-role/DataProcessingRole/kmsdiag-check"
    assert res.results[0].result.request.context["aws:PrincipalArn"] == ROLE_ARN


def test_walkthrough_step1_key_policy_only(tmp_path: Path) -> None:
    db = _db(tmp_path, policy(root_statement(), ALLOW_ROLE), iam=False)
    res = _check(db, *USE)
    assert [r.decision for r in res.results] == ["ImplicitlyDenied", "ImplicitlyDenied"]
    assert all("identity" in _deciding(r) for r in res.results)
    assert "key_policy" not in _deciding(res.results[0])


def test_walkthrough_step2_key_policy_and_iam(ready: Path, tmp_path: Path) -> None:
    db = ready
    res = _check(db, *USE)
    assert res.all_allowed and res.as_expected
    assert [str(x) for x in res.results[0].result.deciding_layers] == ["key_policy", "identity"]
    # an action the walk-through never granted stays denied
    assert not _check(db, "kms:Encrypt").all_allowed


def test_walkthrough_iam_only_is_denied(tmp_path: Path) -> None:
    db = _db(tmp_path, policy(root_statement()), iam=True)
    assert not _check(db, *USE).all_allowed


def test_alias_resolves_in_callers_account_only(ready: Path, tmp_path: Path) -> None:
    from diag.errors import NotFoundError

    db = ready
    with pytest.raises(NotFoundError) as exc:
        _check(db, "kms:Decrypt", key="alias/data-key")
    assert KEY_ARN in (exc.value.hint or "")
    alias_arn = f"arn:aws:kms:us-east-1:{KEY_ACCOUNT}:alias/data-key"
    assert _check(db, "kms:Decrypt", key=alias_arn).all_allowed
    admin = f"arn:aws:iam::{KEY_ACCOUNT}:role/Admin"
    same = _check(db, "kms:Decrypt", key="alias/data-key", principal=admin)
    assert same.key_arn == KEY_ARN and not same.all_allowed  # Admin has no identity policy


# ------------------------------------------------------------------------------------ classic failures


def test_typo_in_principal_is_denied_with_near_miss(tmp_path: Path) -> None:
    typo = {**ALLOW_ROLE, "Principal": {"AWS": ROLE_ARN.replace("DataProcessingRole", "DataProcesingRole")}}
    db = _db(tmp_path, policy(root_statement(), typo), iam=True)
    res = _check(db, "kms:Decrypt")
    ar = res.results[0]
    assert not ar.allowed and _deciding(ar) == ["key_policy"]
    if ar.findings_source == "rules":
        assert ar.verdict == "KEY_POLICY_PRINCIPAL_TYPO"
    else:
        near = [n for ev in ar.evidence for st in ev["closest_statements"] for n in st["near_misses"]]
        assert any("DataProcesingRole" in n["policy_value"] for n in near)


def test_via_service_restricted_key(tmp_path: Path) -> None:
    via = {**ALLOW_ROLE, "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    db = _db(tmp_path, policy(root_statement(), via), iam=True)
    direct = _check(db, "kms:Decrypt")
    assert not direct.all_allowed
    assert "kms:ViaService" not in direct.results[0].result.request.context
    through_s3 = _check(db, "kms:Decrypt", via_service="s3.us-east-1.amazonaws.com")
    assert through_s3.all_allowed
    ctx = through_s3.results[0].result.request.context
    assert ctx["kms:ViaService"] == "s3.us-east-1.amazonaws.com" and ctx["aws:ViaAWSService"] == "true"
    assert _check(db, "kms:Decrypt", via_service="s3").all_allowed  # short form: the key's region
    assert not _check(db, "kms:Decrypt", via_service="rds.us-east-1.amazonaws.com").all_allowed


def test_grant_allows_without_identity_policy(tmp_path: Path) -> None:
    g = grant(ROLE_ARN, ["Decrypt"], constraints={"EncryptionContextSubset": {"Department": "IT"}})
    db = _db(tmp_path, policy(root_statement()), iam=False, grants=[g])
    ok = _check(db, "kms:Decrypt", encryption_context={"Department": "IT"})
    assert ok.all_allowed and _deciding(ok.results[0]) == ["grants"]
    assert not _check(db, "kms:Decrypt").all_allowed  # the constraint needs the context
    assert not _check(db, "kms:Encrypt", encryption_context={"Department": "IT"}).all_allowed


def test_unknown_principal_is_reported(ready: Path, tmp_path: Path) -> None:
    db = ready
    res = _check(db, "kms:Decrypt", principal=f"arn:aws:iam::{CALLER_ACCOUNT}:role/NoSuchRole")
    assert not res.all_allowed
    assert res.caller.found is False
    assert any("NoSuchRole" in n for n in res.notes)


def test_as_of_before_any_snapshot_is_flagged(ready: Path, tmp_path: Path) -> None:
    db = ready
    res = _check(db, "kms:Decrypt", as_of=parse_as_of("2026-01-01T00:00:00Z"))
    assert res.policies_as_of is not None
    assert any("snapshot" in n for n in res.notes)


def test_context_split() -> None:
    ec, cond = split_context(
        {"Department": "IT", "aws:s3:arn": "arn:aws:s3:::b", "aws:SourceIp": "10.0.0.1", "kms:EncryptionContext:x": "1"}
    )
    assert ec == {"Department": "IT", "aws:s3:arn": "arn:aws:s3:::b", "x": "1"}
    assert cond == {"aws:SourceIp": "10.0.0.1"}


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_exit_codes_and_json(ready: Path, tmp_path: Path, run_cli) -> None:
    db = ready
    base = ["--db", db, "check", "--principal", ROLE_ARN, "--key", KEY_ARN]
    code, out, _ = run_cli(*base, "--action", "kms:Decrypt", "--action", "GenerateDataKey")
    assert code == 0, out
    assert "Allowed" in out
    code, out, _ = run_cli(*base, "--action", "kms:Decrypt", "--action", "kms:Encrypt", "--json")
    assert code == 5
    doc = json.loads(out)
    assert doc["ok"] is False and doc["all_allowed"] is False
    assert [r["decision"] for r in doc["results"]] == ["Allowed", "ImplicitlyDenied"]
    denied = doc["results"][1]
    assert denied["deciding_layers"] and (denied["findings"] or denied["evidence"])
    assert {lt["layer"] for lt in denied["layers"]} >= {"key_policy", "identity"}
    code, _, err = run_cli("--db", db, "check", "--principal", ROLE_ARN, "--action", "kms:Decrypt")
    assert code == 2 and "--key" in err
    code, _, err = run_cli(*base, "--action", "kms:*")
    assert code == 2
    code, _, err = run_cli(*base, "--action", "s3:GetObject")
    assert code == 2 and "--via-service" in err
    code, _, err = run_cli("--db", db, "check", "--principal", "not-an-arn", "--key", KEY_ARN, "--action", "Decrypt")
    assert code == 2


def test_cli_from_file(ready: Path, tmp_path: Path, run_cli) -> None:
    db = ready
    checks = tmp_path / "must-work.yaml"
    checks.write_text(
        f"""
defaults:
  key: {KEY_ARN}
checks:
  - name: etl reads
    principal: {ROLE_ARN}
    actions: [kms:Decrypt, kms:GenerateDataKey]
  - name: etl cannot re-key
    principal: {ROLE_ARN}
    action: kms:PutKeyPolicy
    expect: denied
""",
        encoding="utf-8",
    )
    code, out, _ = run_cli("--db", db, "check", "--from-file", checks)
    assert code == 0, out
    assert "etl reads" in out and "etl cannot re-key" in out
    js = tmp_path / "must-work.json"
    js.write_text(json.dumps([{"principal": ROLE_ARN, "key": KEY_ARN, "action": "kms:Encrypt", "name": "enc"}]))
    code, out, _ = run_cli("--db", db, "--json", "check", "--from-file", js)
    assert code == 5
    doc = json.loads(out)
    assert doc["ok"] is False and doc["checks"][0]["results"][0]["decision"] == "ImplicitlyDenied"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- principal: x\n", encoding="utf-8")
    code, _, err = run_cli("--db", db, "check", "--from-file", bad)
    assert code == 3


def test_load_requests_defaults_merge() -> None:
    reqs = load_requests(
        "defaults: {principal: p, key: k, context: {a: '1'}}\nchecks:\n  - action: Decrypt\n    context: {b: '2'}\n",
        "x.yaml",
    )
    assert reqs[0].actions == ("kms:Decrypt",) and reqs[0].encryption_context == {"a": "1", "b": "2"}


def test_disabled_key_is_denied_even_when_policies_allow(tmp_path: Path) -> None:
    b = BundleBuilder()
    b.key(policy_doc=policy(root_statement(), {**ALLOW_ROLE, "Action": [*USE, "kms:DescribeKey"]}), state="Disabled")
    b.role("DataProcessingRole", inline={"kms": policy({"Effect": "Allow", "Action": "kms:*", "Resource": KEY_ARN})})
    db = tmp_path / "d.duckdb"
    con = open_db(db)
    b.load(con, tmp_path / "bundle")
    con.close()
    res = _check(db, "kms:Decrypt", "kms:DescribeKey")
    dec, desc = res.results
    assert dec.decision == "Allowed" and dec.blocked_by_key_state == "Disabled" and not dec.allowed
    assert desc.allowed and desc.blocked_by_key_state is None
    assert not res.all_allowed


def test_rules_failure_falls_back_to_engine_evidence(ready: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import diag.check.run as run

    def boom(*args: object) -> None:
        raise RuntimeError("rules broke")

    monkeypatch.setattr(run, "_rules_findings", boom)
    res = _check(ready, "kms:Encrypt")
    ar = res.results[0]
    assert not ar.allowed and ar.findings_source == "engine" and ar.evidence
    assert any("rules broke" in n for n in res.notes)


def test_denied_check_uses_the_diagnosis_rules_when_installed(ready: Path) -> None:
    ar = _check(ready, "kms:Encrypt").results[0]
    assert ar.findings_source == "rules" and ar.verdict == "KEY_POLICY_NO_ACTION"
    assert ar.findings[0]["fix"]["policy"]["Action"][-1] == "kms:Encrypt"


def test_uncollected_caller_account_is_unverified_and_strict_fails(tmp_path: Path, run_cli) -> None:
    outsider = "arn:aws:iam::444444444444:role/Partner"
    db = _db(tmp_path, policy(root_statement(), {**ALLOW_ROLE, "Principal": {"AWS": outsider}}), iam=True)
    res = _check(db, "kms:Decrypt", principal=outsider)
    ar = res.results[0]
    assert ar.allowed and "identity" in [str(u) for u in ar.result.unknown]
    assert res.unverified and res.caller.found is None
    base = ["--db", db, "check", "--principal", outsider, "--key", KEY_ARN, "--action", "kms:Decrypt"]
    assert run_cli(*base)[0] == 0
    assert run_cli(*base, "--strict")[0] == 5


def test_create_grant_for_aws_resource_only_via_a_service(tmp_path: Path) -> None:
    st = {
        "Sid": "AllowAttachmentOfPersistentResources",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE_ARN},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
    }
    b = BundleBuilder()
    b.key(policy_doc=policy(root_statement(), st))
    b.role(
        "DataProcessingRole",
        inline={"g": policy({"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": KEY_ARN})},
    )
    db = tmp_path / "g.duckdb"
    con = open_db(db)
    b.load(con, tmp_path / "bundle")
    con.close()
    assert not _check(db, "kms:CreateGrant").all_allowed
    via = _check(db, "kms:CreateGrant", via_service="ec2")
    assert via.all_allowed
    assert via.results[0].result.request.context["kms:GrantIsForAWSResource"] == "true"


def test_gaps_print_each_collection_command_once_and_whole(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partner's account was not collected: its identity policies and permission boundary come from the
    same IAM file, so that command prints once (it printed once per gap), on one line at any width."""
    monkeypatch.setenv("COLUMNS", "40")
    outsider = "arn:aws:iam::444444444444:role/Partner"
    db = _db(tmp_path, policy(root_statement(), {**ALLOW_ROLE, "Principal": {"AWS": outsider}}), iam=True)
    code, out, err = run_cli("--db", db, "check", "--principal", outsider, "--key", KEY_ARN, "--action", "kms:Decrypt")
    assert code == 0, err
    assert "to collect them (each command once):" in out
    lines = [ln.strip() for ln in out.splitlines()]
    iam = [ln for ln in lines if "aws iam get-account-authorization-details" in ln]
    assert len(iam) == 1 and iam[0].startswith("mkdir -p BUNDLE/444444444444/iam && aws iam")
    assert iam[0].endswith("get-account-authorization-details.json")  # whole: not cut at 40 columns
    assert "kmsdiag collect --from-dir BUNDLE" in lines
