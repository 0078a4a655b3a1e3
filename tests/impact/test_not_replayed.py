"""`kmsdiag impact` when the change deletes a key (every observed call on it breaks) and when part of the
change cannot be replayed (listed in ``not_replayed``; exit 3 unless ``--allow-unreplayed``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diag.errors import EXIT_BAD_INPUT, EXIT_DENIED

from .test_impact_walkthrough import DATA, KEY, ROLE, Run, _write, db  # noqa: F401

PLAN = DATA / "plan_delete_key.json"


def _observed(db: Path) -> list[tuple[str, str, int]]:  # noqa: F811
    """Every distinct successful call on the key in the last 30 days, read from the store directly."""
    import datetime as dt

    from diag.impact.observed import observed_calls, window_end
    from diag.store import open_db

    con = open_db(db, read_only=True)
    try:
        end = window_end(con)
        assert end is not None
        calls, _, _ = observed_calls(con, since=end - dt.timedelta(days=30), until=end, keys=[KEY])
    finally:
        con.close()
    return sorted((c.principal, c.action, c.count) for c in calls)


def test_a_plan_deleting_a_collected_key_breaks_every_observed_call_on_it(run_cli: Run, db: Path) -> None:  # noqa: F811
    code, out, err = run_cli("impact", "--db", db, "--json", "--plan", PLAN)
    assert code == EXIT_DENIED, err
    rep = json.loads(out)
    observed = _observed(db)
    assert (ROLE, "kms:Decrypt", 1) in observed and len(observed) >= 3
    assert sorted((b["principal"], b["action"], b["count"]) for b in rep["breaks"]) == observed
    for b in rep["breaks"]:
        assert b["key_arn"] == KEY and b["last_seen"]
        r = b["refused_by"]
        assert r["layers"] == ["key_state"]
        assert r["statements"][0]["statement"] == "key scheduled for deletion by aws_kms_key.shared_data"
    assert rep["not_replayed"] == [] and rep["unchanged"] == 0
    assert rep["observed"]["distinct_calls"] == len(observed)
    # text, Markdown and SARIF say the same
    code, out, _ = run_cli("impact", "--db", db, "--plan", PLAN)
    assert code == EXIT_DENIED
    assert f"{ROLE} kms:Decrypt on {KEY}" in out and "key_state: key scheduled for deletion by" in out
    code, md, _ = run_cli("impact", "--db", db, "--plan", PLAN, "--format", "markdown")
    assert code == EXIT_DENIED and "#### Would break" in md and "key scheduled for deletion" in md
    code, out, _ = run_cli("impact", "--db", db, "--plan", PLAN, "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert code == EXIT_DENIED
    assert [r["ruleId"] for r in results].count("KMSDIAG_IMPACT_BREAKS_OBSERVED_CALL") == len(observed)
    # --fail-on never: the breaks are still listed, the exit code is 0
    code, out, _ = run_cli("impact", "--db", db, "--json", "--plan", PLAN, "--fail-on", "never")
    assert code == 0 and len(json.loads(out)["breaks"]) == len(observed)


def _import_value_template(tmp_path: Path) -> Path:
    text = (DATA / "cfn_remove_cross_account.yaml").read_text()
    # the administrators' principal comes from another stack's export: not known to kmsdiag
    marker = "!Ref AdminRoleName"
    assert marker in text
    p = tmp_path / "import_value.yaml"
    p.write_text(text.replace(marker, "!ImportValue admin-role-name"), encoding="utf-8")
    return p


def test_an_unresolvable_import_value_is_not_replayed_and_exits_3(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    tpl = _import_value_template(tmp_path)
    args = ("impact", "--db", db, "--cfn-template", tpl, "--cfn-stack", DATA / "cfn_change_set.json")
    code, out, err = run_cli(*args, "--json")
    assert code == EXIT_BAD_INPUT, err
    rep = json.loads(out)
    assert rep["changes"] == [] and rep["breaks"] == []
    assert len(rep["not_replayed"]) == 1
    item = rep["not_replayed"][0]
    assert item["resource"] == "SharedDataKey" and item["type"] == "AWS::KMS::Key"
    assert "Fn::ImportValue" in item["reason"] and "admin-role-name" in item["reason"]
    assert any("Fn::ImportValue" in n for n in rep["notes"])  # notes keep every remark as text
    code, out, _ = run_cli(*args, "--json", "--allow-unreplayed")
    assert code == 0 and json.loads(out)["not_replayed"] == rep["not_replayed"]
    code, out, _ = run_cli(*args)
    assert code == EXIT_BAD_INPUT and "Not replayed (1)" in out and "SharedDataKey (AWS::KMS::Key)" in out
    code, md, _ = run_cli(*args, "--format", "markdown", "--allow-unreplayed")
    assert code == 0 and "#### Not replayed" in md and "`SharedDataKey`" in md
    code, out, _ = run_cli(*args, "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert code == EXIT_BAD_INPUT and [r["ruleId"] for r in results] == ["KMSDIAG_IMPACT_NOT_REPLAYED"]


def _plan(tmp_path: Path, *changes: dict[str, Any]) -> Path:
    base = json.loads(PLAN.read_text())
    base["resource_changes"] = list(changes)
    return _write(tmp_path, "plan.json", base)


def _rc(kind: str, name: str, actions: list[str], after: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "address": f"{kind}.{name}",
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": actions, "before": None, "after": after, "after_unknown": {}},
    }


def test_a_break_exits_5_before_what_is_not_replayed(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    deletion = json.loads(PLAN.read_text())["resource_changes"][0]
    ghost = _rc("aws_iam_role_policy", "ghost", ["create"], {"role": "GhostRole", "name": "p", "policy": "{}"})
    code, out, _ = run_cli("impact", "--db", db, "--json", "--plan", _plan(tmp_path, deletion, ghost))
    rep = json.loads(out)
    assert code == EXIT_DENIED and rep["breaks"]
    assert rep["not_replayed"] == [
        {
            "resource": "aws_iam_role_policy.ghost",
            "type": "aws_iam_role_policy",
            "reason": "GhostRole is not a collected role or user",
        }
    ]


def test_a_principal_the_plan_creates_is_a_note_not_a_gap(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    role = _rc("aws_iam_role", "new", ["create"], {"name": "NewRole", "assume_role_policy": "{}"})
    pol = _rc("aws_iam_role_policy", "new", ["create"], {"role": "NewRole", "name": "p", "policy": "{}"})
    code, out, err = run_cli("impact", "--db", db, "--json", "--plan", _plan(tmp_path, role, pol))
    rep = json.loads(out)
    assert code == 0, err
    assert rep["not_replayed"] == [] and any("NewRole is created by this plan" in n for n in rep["notes"])
