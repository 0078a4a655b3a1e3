"""The printed fix, applied to the evidence bundle by hand (as a person would paste it), re-collected:
`kmsdiag check` then allows the failing call, and the blast radius kmsdiag announced equals the change in
`kmsdiag audit`'s access matrix between the bundle before and after the edit.

The edit is made from the fix as `explain --json` prints it (its ``policy`` and ``target``, and the
statement its evidence names), not from kmsdiag's own change model, so a wrong proof cannot hide a wrong
fix. Stories whose first fix is a key-policy or identity-policy statement, proven alone, and whose bundle
holds the policies in force at the failure are used. The other stories' fixes are not pasteable edits of
those two documents: a call from another region or principal, a key-state change, an edit "yours to choose"
(conditions, Deny statements), a grant, an SCP/RCP/boundary/session policy, or a fix that needs another
layer too (01); their proofs are checked by test_sample_proofs.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2] / "sample_trails"
STORIES = [
    "02-key-policy-no-principal",
    "03-key-policy-no-action",
    "04-key-policy-principal-typo",
    "05-key-policy-root-delegation-missing",
    "06-key-policy-principal-orphaned",
    "07-iam-policy-missing",
    "32-key-policy-principal-typo-digit",
    "37-condition-principal-arn-path",
]

Run = Callable[..., tuple[int, str, str]]


def _explain(run_cli: Run, db: Path, event_id: str) -> dict[str, Any]:
    code, out, err = run_cli("explain", event_id, "--db", db, "--json")
    assert code == 0, err
    return json.loads(out)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _edit_key_policy(bundle: Path, key_arn: str, fix: dict[str, Any], old: dict[str, Any] | None) -> None:
    key_id = key_arn.rsplit("/", 1)[-1]
    path = next(bundle.glob(f"*/kms/*/{key_id}/get-key-policy.json"))
    doc = _load(path)
    policy = json.loads(doc["Policy"])
    sts = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    same = [
        i
        for i, s in enumerate(sts)
        if old is not None and json.dumps(s, sort_keys=True) == json.dumps(old, sort_keys=True)
    ]
    if same:
        sts[same[0]] = fix["policy"]
    else:
        sts.append(fix["policy"])
    policy["Statement"] = sts
    doc["Policy"] = json.dumps(policy)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _edit_identity(bundle: Path, role_arn: str, fix: dict[str, Any]) -> None:
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    path = bundle / account / "iam" / "get-account-authorization-details.json"
    doc = _load(path)
    role = next(r for r in doc["RoleDetailList"] if r["RoleName"] == name)
    policy_name = next(
        c.split("--policy-name ", 1)[1].split(" ", 1)[0] for c in fix["commands"] if "--policy-name" in c
    )
    role.setdefault("RolePolicyList", []).append({"PolicyName": policy_name, "PolicyDocument": fix["policy"]})
    path.write_text(json.dumps(doc), encoding="utf-8")


def _apply(bundle: Path, finding: dict[str, Any], doc: dict[str, Any]) -> None:
    fix = finding["fix"]
    target = fix["target"] or ""
    if target.startswith("key policy of "):
        old = (finding["evidence"].get("statement") or {}).get("statement")
        _edit_key_policy(bundle, target.removeprefix("key policy of "), fix, old)
    elif target.startswith("identity policies of "):
        _edit_identity(bundle, target.removeprefix("identity policies of "), fix)
    else:
        pytest.fail(f"this test does not know how to apply a fix to {target!r}")


def _matrix(db: Path, key: str) -> dict[str, set[str]]:
    from diag.audit.matrix import access_matrix
    from diag.store import open_db

    con = open_db(db, read_only=True)
    try:
        ka = access_matrix(con, keys=[key]).for_key(key)
    finally:
        con.close()
    assert ka is not None
    return {p.principal: set(p.direct) | {a for acts in p.via.values() for a in acts} for p in ka.principals}


def _collect(run_cli: Run, db: Path, bundle: Path) -> None:
    code, _, err = run_cli("collect", "--db", db, "--quiet", "--from-dir", bundle)
    assert code == 0, err


@pytest.mark.parametrize("story", STORIES)
def test_printed_fix_passes_check_and_matches_blast_radius(run_cli: Run, tmp_path: Path, story: str) -> None:
    scenario = ROOT / story
    if not scenario.is_dir():
        pytest.skip(f"{story} is absent")
    full = tmp_path / "full.duckdb"
    assert run_cli("ingest", "--db", full, "--quiet", scenario / "trails")[0] == 0
    _collect(run_cli, full, scenario / "bundle")
    event_id = sorted(json.loads((scenario / "expected.json").read_text()))[0]
    doc = _explain(run_cli, full, event_id)
    finding = doc["findings"][0]
    assert finding["fix"]["proof"]["status"] == "proven", finding["fix"]["proof"]
    # the text output prints the same fix (every line of its policy, uncut) and labels it proven
    code, text, _ = run_cli("explain", event_id, "--db", full)
    assert code == 0
    for line in json.dumps(finding["fix"]["policy"], indent=2, ensure_ascii=True).splitlines():
        assert line.strip() in text, line
    assert "proven: with this fix alone the engine allows the call" in text
    assert "blast radius: " + finding["fix"]["blast_radius"]["summary"] in " ".join(text.split())
    radius = finding["fix"]["blast_radius"]
    assert radius is not None and "added" in radius, radius
    ev = doc["event"]
    principal, key, action = ev["principal_arn"], ev["key_arn"], f"kms:{ev['event_name']}"

    # the bundle as collected, then the bundle with the printed fix pasted in
    before_db, after_db = tmp_path / "before.duckdb", tmp_path / "after.duckdb"
    _collect(run_cli, before_db, scenario / "bundle")
    edited = tmp_path / "bundle"
    shutil.copytree(scenario / "bundle", edited)
    _apply(edited, finding, doc)
    _collect(run_cli, after_db, edited)

    args = ("check", "--principal", principal, "--action", action, "--key", key, "--json")
    code, out, _ = run_cli(*args, "--db", before_db)
    assert code == 5, out  # the bundle alone reproduces the refusal
    code, out, err = run_cli(*args, "--db", after_db)
    assert code == 0, out + err  # the printed fix makes it pass

    # blast radius = what the audit matrix gains between the two bundles
    m0, m1 = _matrix(before_db, key), _matrix(after_db, key)
    gained = {p: sorted(m1.get(p, set()) - m0.get(p, set())) for p in m1}
    gained = {p: a for p, a in gained.items() if a}
    announced = {r["principal"]: r["actions"] for r in radius["added"] if r["key_arn"] == key}
    assert announced == gained, (announced, gained)
    assert action in announced.get(principal, [])
