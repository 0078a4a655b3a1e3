"""`kmsdiag impact` on the guide's walk-through (sample_trails/01-guide-walkthrough): the key owner's
proposed key policies replayed against the calls CloudTrail saw succeed.

The trails hold one successful Decrypt and one GenerateDataKey by 222222222222's DataProcessingRole (after
both fixes), a DescribeKey and the PutKeyPolicy by 111111111111's SSO administrators.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCENARIO = Path(__file__).resolve().parents[2] / "sample_trails" / "01-guide-walkthrough"
DATA = Path(__file__).resolve().parent / "data"
KEY = "arn:aws:kms:us-east-1:111111111111:key/085c09ad-f85a-5531-8e2f-151b581e7234"
ROLE = "arn:aws:iam::222222222222:role/DataProcessingRole"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diag.cli.app import main

    if not SCENARIO.is_dir():
        pytest.skip("sample_trails/01-guide-walkthrough is absent")
    path = tmp_path_factory.mktemp("impact") / "w.duckdb"
    assert main(["ingest", "--db", str(path), "--quiet", str(SCENARIO / "trails")]) == 0
    assert main(["collect", "--db", str(path), "--quiet", "--from-dir", str(SCENARIO / "bundle")]) == 0
    return path


@pytest.fixture(scope="module")
def policy_now(db: Path) -> dict[str, Any]:
    """The key policy in force now (the bundle's plus the PutKeyPolicy of the trail)."""
    from diag.collect.inforce import policies_in_force
    from diag.store import open_db

    con = open_db(db, read_only=True)
    try:
        inf = policies_in_force(con, caller_arn=None, caller_account=None, key_arn=KEY)
    finally:
        con.close()
    assert inf.key_policy is not None
    doc = inf.key_policy.document
    return json.loads(doc) if isinstance(doc, str) else copy.deepcopy(doc)


def _impact(run_cli: Run, db: Path, *args: Any) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("impact", "--db", db, "--json", *args)
    assert code in (0, 5), err
    return code, json.loads(out)


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


def _callers(rep: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((b["principal"], b["action"]) for b in rep["breaks"])


def test_removing_cross_account_statement_lists_exactly_its_callers(run_cli: Run, db: Path) -> None:
    code, rep = _impact(run_cli, db, "--key-policy", DATA / "key_policy_remove_cross_account.json", "--key", KEY)
    assert code == 5  # an observed call would break
    assert _callers(rep) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]
    for b in rep["breaks"]:
        assert b["key_arn"] == KEY and b["count"] == 1 and b["last_seen"]
        assert b["refused_by"]["layers"] == ["key_policy"]
    assert rep["unchanged"] == 2  # the administrators' DescribeKey and PutKeyPolicy
    assert rep["new_access"] == []
    assert [r["principal"] for r in rep["removed_access"]] == [ROLE]
    assert rep["observed"]["events_without_caller"] == 0  # the owner's copies are the same calls


def test_terraform_plan_gives_the_same_answer_as_the_raw_document(run_cli: Run, db: Path) -> None:
    _, raw = _impact(run_cli, db, "--key-policy", DATA / "key_policy_remove_cross_account.json", "--key", KEY)
    code, plan = _impact(run_cli, db, "--plan", DATA / "plan_remove_cross_account.json")
    assert code == 5
    for k in ("breaks", "unchanged", "new_access", "removed_access", "unexplained", "observed"):
        assert plan[k] == raw[k], k
    assert plan["changes"] == raw["changes"]


def test_reordering_statements_reports_no_change(
    run_cli: Run, db: Path, policy_now: dict[str, Any], tmp_path: Path
) -> None:
    doc = copy.deepcopy(policy_now)
    doc["Statement"] = list(reversed(doc["Statement"]))
    code, rep = _impact(run_cli, db, "--key-policy", _write(tmp_path, "r.json", doc), "--key", KEY)
    assert code == 0
    assert rep["breaks"] == [] and rep["new_access"] == [] and rep["removed_access"] == []
    assert rep["unchanged"] == rep["observed"]["distinct_calls"] == 4


def test_principal_star_reports_new_access(run_cli: Run, db: Path, policy_now: dict[str, Any], tmp_path: Path) -> None:
    doc = copy.deepcopy(policy_now)
    doc["Statement"].append(
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    )
    path = _write(tmp_path, "star.json", doc)
    code, rep = _impact(run_cli, db, "--key-policy", path, "--key", KEY)
    assert code == 0 and rep["breaks"] == []  # nothing observed breaks ...
    added = {r["principal"]: r["actions"] for r in rep["new_access"]}
    assert added and all(a == ["kms:Decrypt"] for a in added.values())
    assert ROLE not in added  # it could already decrypt
    # ... a principal of another account that nothing named before may now decrypt (its own IAM allows it)
    assert any(":111111111111:" not in p for p in added)
    code, _ = _impact(run_cli, db, "--key-policy", path, "--key", KEY, "--fail-on", "new-access")
    assert code == 5


def test_markdown_and_sarif(run_cli: Run, db: Path) -> None:
    args = ("--key-policy", DATA / "key_policy_remove_cross_account.json", "--key", KEY)
    code, out, err = run_cli("impact", "--db", db, "--format", "markdown", *args)
    assert code == 5, err
    assert "#### Would break" in out and f"`{ROLE}`" in out and "kms:Decrypt" in out
    code, out, _ = run_cli("impact", "--db", db, "--format", "sarif", *args)
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"KMSDIAG_IMPACT_BREAKS_OBSERVED_CALL"} and len(results) == 2


def test_usage_errors(run_cli: Run, db: Path) -> None:
    code, _, err = run_cli("impact", "--db", db)
    assert code == 2 and "nothing to replay" in err
    code, _, err = run_cli("impact", "--db", db, "--key-policy", DATA / "key_policy_remove_cross_account.json")
    assert code == 2 and "--key" in err


def _role_policy_plan(doc: dict[str, Any]) -> dict[str, Any]:
    """`terraform show -json` of a plan updating the role's inline policy (aws_iam_role_policy: role, name,
    policy; id is ROLE:NAME as the provider sets it)."""
    before = {
        "id": "DataProcessingRole:shared-data-key-decrypt",
        "name": "shared-data-key-decrypt",
        "role": "DataProcessingRole",
    }
    return {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_iam_role_policy.decrypt",
                "mode": "managed",
                "type": "aws_iam_role_policy",
                "name": "decrypt",
                "change": {
                    "actions": ["update"],
                    "before": {**before, "policy": "{}"},
                    "after": {**before, "policy": json.dumps(doc)},
                    "after_unknown": {},
                },
            }
        ],
    }


def test_identity_policy_tightened_breaks_the_role_calls(run_cli: Run, db: Path, tmp_path: Path) -> None:
    """The role's inline policy replaced by one for another key: its observed calls break at the identity
    layer; the raw document and the Terraform plan agree."""
    other = KEY.replace("085c09ad", "00000000")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": other}]}
    path = _write(tmp_path, "id.json", doc)
    args = ("--identity-policy", path, "--principal", ROLE, "--policy-name", "shared-data-key-decrypt")
    code, rep = _impact(run_cli, db, *args)
    assert code == 5
    assert _callers(rep) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]
    assert all(b["refused_by"]["layers"] == ["identity"] for b in rep["breaks"])
    code, plan = _impact(run_cli, db, "--plan", _write(tmp_path, "plan.json", _role_policy_plan(doc)))
    assert code == 5 and plan["breaks"] == rep["breaks"]
