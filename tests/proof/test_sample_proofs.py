"""Every fix proposed for a sample_trails story is re-evaluated by the engine: the policy fixes are
proven (alone, or with the smallest set of the other fixes), the rest say why they cannot be proven.

All scenarios share one database, as in `kmsdiag demo`. Blast radius is not computed here (see
test_fix_applied.py): this module is about the proofs of every story.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2] / "sample_trails"
SCENARIOS = sorted(p for p in ROOT.glob("[0-9]*") if (p / "expected.json").is_file()) if ROOT.is_dir() else []

# Fixes that are not a policy change (or whose edit is the user's choice) are unprovable, with this reason.
UNPROVABLE = {
    "WRONG_REGION": "region",
    "WRONG_ASSUMED_ROLE": "another principal",
    "KEY_DISABLED": "key's state",
    "KEY_PENDING_DELETION": "key's state",
    "KEY_NOT_FOUND": "existing key",
    "AWS_MANAGED_KEY_CROSS_ACCOUNT": "another key",
    "CONDITION_VIA_SERVICE": "the edit is yours",
    "CONDITION_ENCRYPTION_CONTEXT": "the edit is yours",
    "CONDITION_OTHER": "the edit is yours",
    "EXPLICIT_DENY": "narrow a Deny",
    "UNKNOWN": "not collected",
    "S3_BUCKET_POLICY_MISSING": "uncollected layer",
    "KEY_STATE_OTHER": "key's state",
    "CUSTOM_KEY_STORE_UNAVAILABLE": "not an authorization failure",
    "KEY_USAGE_MISMATCH": "not an authorization failure",
    "WRONG_KEY_FOR_CIPHERTEXT": "not an authorization failure",
    "INVALID_CIPHERTEXT": "not an authorization failure",  # 27: the RCPs of the bucket's account were not collected
}


@pytest.fixture(scope="module")
def con(stories_db: Path) -> Iterator[Any]:
    from diag.store import open_db

    c = open_db(stories_db, read_only=True)
    yield c
    c.close()


def _diagnose(con: Any, event_id: str) -> dict[str, Any]:
    from diag.diagnosis.find import find_event
    from diag.diagnosis.sources import DbPolicySource
    from diag.explain import diagnose_facts

    return diagnose_facts(find_event(con, event_id), DbPolicySource(con)).to_dict()


CASES = [(s.name, e) for s in SCENARIOS for e in sorted(json.loads((s / "expected.json").read_text()))]


@pytest.mark.parametrize(("scenario", "event_id"), CASES, ids=[f"{c[0]}:{c[1][:8]}" for c in CASES])
def test_every_fix_has_a_proof(con: Any, scenario: str, event_id: str) -> None:
    doc = _diagnose(con, event_id)
    fixes = [(i, f) for i, f in enumerate(doc["findings"]) if f["fix"] is not None]
    if doc["verdict"] in ("OTHER_SERVICE", "NOT_ACCESS_FAILURE"):
        assert not fixes, "no policy refused the call: nothing to fix in a policy"
        return
    assert fixes, f"{scenario}: no fix proposed"
    for i, f in fixes:
        proof = f["fix"]["proof"]
        assert proof is not None, f"{scenario}: {f['code']} has no proof"
        assert set(proof) >= {"status", "with", "deciding_after", "why"}
        if proof["status"] == "unprovable":
            # only fixes that are not a policy edit kmsdiag can evaluate, each with its reason
            assert f["code"] in UNPROVABLE, (scenario, f["code"], proof)
            assert UNPROVABLE[f["code"]] in proof["why"], proof["why"]
            continue
        assert proof["status"] in ("proven", "needs_other_fixes"), (scenario, f["code"], proof)
        if proof["status"] == "proven":
            assert proof["deciding_after"], (scenario, f["code"], proof)
        elif proof["with"]:  # the smallest set of other fixes that makes it pass, and that set is proven
            assert proof["deciding_after"], (scenario, f["code"], proof)
            for ref in proof["with"]:
                j = int(ref.split("[")[1].split("]")[0])
                assert j != i and doc["findings"][j]["fix"]["proof"]["status"] == "needs_other_fixes"
        else:  # no set of proposed fixes passes: the missing piece is a fix kmsdiag cannot evaluate
            others = [g["fix"]["proof"]["status"] for g in doc["findings"] if g["fix"] and g is not f]
            assert "unprovable" in others, (scenario, f["code"], proof)


def test_walkthrough_needs_both_fixes(con: Any) -> None:
    """The guide's first run: the key-policy statement alone is not enough, the IAM statement alone is not
    enough; together they are (each names the other)."""
    first = "fe484d97"
    event = next(e for s, e in CASES if s.startswith("01-") and e.startswith(first))
    doc = _diagnose(con, event)
    by_code = {f["code"]: (i, f["fix"]["proof"]) for i, f in enumerate(doc["findings"]) if f["fix"]}
    ki, kp = by_code["KEY_POLICY_NO_PRINCIPAL"]
    ii, ip = by_code["IAM_POLICY_MISSING"]
    assert kp["status"] == ip["status"] == "needs_other_fixes"
    assert kp["with"] == [f"findings[{ii}].fix"] and ip["with"] == [f"findings[{ki}].fix"]
    assert "identity" in kp["why"] and "key_policy" in ip["why"]
    layers = {d["layer"] for d in kp["deciding_after"]}
    assert {"key_policy", "identity"} <= layers


def test_text_labels_each_fix(con: Any) -> None:
    from diag.diagnosis.model import Finding, Fix
    from diag.proof.text import proof_label

    event = next(e for s, e in CASES if s.startswith("01-") and e.startswith("fe484d97"))
    doc = _diagnose(con, event)
    findings = tuple(
        Finding(f["code"], f["layer"], f["account"], f["summary"], fix=Fix(f["fix"]["summary"]))
        for f in doc["findings"]
    )
    key_fix = next(f["fix"]["proof"] for f in doc["findings"] if f["code"] == "KEY_POLICY_NO_PRINCIPAL")
    label = proof_label(key_fix, findings)
    assert label == "not enough alone: needs also the IAM_POLICY_MISSING fix (identity) (that set is proven)"
    assert proof_label({"status": "proven", "why": "x"}) == "proven: x"
    assert proof_label({"status": "unprovable", "why": "y"}) == "unprovable: y"
