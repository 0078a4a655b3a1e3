"""End to end with the real engine and collection: a walk-through bundle, stored events, `explain --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.store import open_db

from .dbutil import decrypt_record, insert_record
from .walkthrough import KEY_ARN, ROLE_ARN, ROOT_STATEMENT, load, role_statement, write_bundle

TYPO = "arn:aws:iam::222222222222:role/DataProcesingRole"


def _db(db_path: Path, tmp_path: Path, statements: list[dict], identity: dict | None = None) -> Path:  # type: ignore[type-arg]
    con = open_db(db_path)
    load(con, write_bundle(tmp_path / "bundle", key_statements=statements, identity=identity))
    insert_record(con, decrypt_record("ev-1", when="2026-11-28T10:00:00Z"))
    con.close()
    return db_path


def _explain(run_cli, db: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    code, out, err = run_cli("explain", "ev-1", "--db", db, "--json")
    assert code == 0, err
    return json.loads(out)


def test_typo_in_key_policy_principal(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = _explain(run_cli, _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement(TYPO)]))
    assert doc["verdict"] == "KEY_POLICY_PRINCIPAL_TYPO", doc["findings"]
    f = doc["findings"][0]
    assert f["evidence"]["statement"]["sid"] == "AllowDataProcessingRole" and f["evidence"]["statement"]["index"] == 1
    assert TYPO in f["summary"] and ROLE_ARN in f["summary"] and "one character" in f["summary"]
    assert f["fix"]["policy"]["Principal"] == {"AWS": ROLE_ARN}
    layers = {layer["layer"]: layer["result"] for layer in doc["layers"]}
    assert layers["key_policy"] == "ImplicitlyDenied" and layers["identity"] == "Allowed"


def test_no_statement_for_the_caller(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = _explain(run_cli, _db(db_path, tmp_path, [ROOT_STATEMENT]))
    assert doc["verdict"] == "KEY_POLICY_NO_PRINCIPAL" and [f["code"] for f in doc["findings"]] == [
        "KEY_POLICY_NO_PRINCIPAL"
    ]
    assert doc["findings"][0]["fix"]["policy"]["Principal"] == {"AWS": ROLE_ARN}


def test_both_layers_missing(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    doc = _explain(run_cli, _db(db_path, tmp_path, [ROOT_STATEMENT], identity=empty))
    assert [f["code"] for f in doc["findings"]] == ["KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING"]
    assert doc["findings"][1]["fix"]["policy"]["Statement"][0]["Resource"] == KEY_ARN


def test_identity_resource_is_the_key_id(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ident = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UseKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "1234abcd-12ab-34cd-56ef-1234567890ab",
            }
        ],
    }
    doc = _explain(run_cli, _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement()], identity=ident))
    assert doc["verdict"] == "IAM_RESOURCE_MISMATCH", doc["findings"]
    assert doc["findings"][0]["fix"]["policy"]["Resource"] == KEY_ARN


def test_allowed_by_the_policies_is_unknown(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = _explain(run_cli, _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement()]))
    # the layers seen allow; the walk-through bundle has no SCPs/RCPs, so the decision is not proven
    assert doc["verdict"] == "UNKNOWN" and doc["decision"] == "Unknown", doc["based_on"]
    assert doc["outcome"] == "failed" and "key_policy" in doc["based_on"]["layers_seen"]
    assert doc["based_on"]["layers_not_seen"], doc["based_on"]
    summary = doc["findings"][0]["summary"]
    assert "the collected policies allow this call" not in summary and "decide it" in summary, summary


def test_rich_output_shows_fix_json_and_commands(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement(TYPO)])
    code, out, err = run_cli("explain", "ev-1", "--db", db)
    assert code == 0, err
    assert "KEY_POLICY_PRINCIPAL_TYPO" in out and "layers" in out and "aws kms put-key-policy" in out
    assert '"Principal"' in out


SESSION = "arn:aws:sts::222222222222:assumed-role/DataProcessingRole/etl"


@pytest.mark.parametrize(
    "tail",
    [
        " because no identity-based policy allows the kms:Decrypt action",  # AWS names the wrong layer here
        " because no resource-based policy allows the kms:Decrypt action",
        "",
        " with an explicit deny in a service control policy",
    ],
)
def test_error_text_is_diagnosed_from_the_policies_not_the_message(
    run_cli, db_path: Path, tmp_path: Path, tail: str
) -> None:  # type: ignore[no-untyped-def]
    db = _db(db_path, tmp_path, [ROOT_STATEMENT])
    text = f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY_ARN}{tail}"
    code, out, err = run_cli("explain", "--error", text, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["event"]["origin"] == "error-text" and doc["event"]["key_arn"] == KEY_ARN
    assert doc["verdict"] == "KEY_POLICY_NO_PRINCIPAL"


def test_error_text_ciphertext_form_uses_the_callers_recent_key(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement(TYPO)])
    text = (
        f"User: {SESSION} is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because"
        " the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy"
        " explicitly denies access"
    )
    code, out, err = run_cli("explain", "--error", text, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["event"]["key_arn"] == KEY_ARN and doc["verdict"] == "KEY_POLICY_PRINCIPAL_TYPO"
    code, out, err = run_cli(
        "explain", "--error", text, "--key", KEY_ARN, "--region", "us-east-1", "--db", db, "--json"
    )
    assert code == 0 and json.loads(out)["verdict"] == "KEY_POLICY_PRINCIPAL_TYPO"


def test_allowed_now_names_only_unseen_layers(run_cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = _db(db_path, tmp_path, [ROOT_STATEMENT, role_statement()])
    summary = " ".join(f["summary"] for f in _explain(run_cli, db)["findings"])
    # the bundle has no SCPs/RCPs: "the collected policies allow" would be a claim without evidence
    assert "yet AWS refused it" not in summary and "VPC endpoint policy" in summary
    assert "scp" in summary and "decide it" in summary
    text = f"User: {SESSION} is not authorized to perform: kms:Decrypt on resource: {KEY_ARN}"
    code, out, err = run_cli("explain", "--error", text, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "UNKNOWN" and doc["decision"] == "Unknown"
    summary = " ".join(f["summary"] for f in doc["findings"])
    assert "probably fixed" not in summary and "VPC endpoint policy" in summary
