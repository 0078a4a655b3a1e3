"""A whole evidence bundle as the proposed change (`kmsdiag impact --bundle DIR`): what it holds replaces
the policies in force layer by layer; what it lacks keeps them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .test_impact_walkthrough import (  # noqa: F401
    DATA,
    KEY,
    ROLE,
    SCENARIO,
    Run,
    _callers,
    _impact,
    db,
    policy_now,
)

KEY_DIR = "111111111111/kms/us-east-1/085c09ad-f85a-5531-8e2f-151b581e7234"


def _bundle(tmp_path: Path, key_policy: dict[str, Any], *, only_key_account: bool = False) -> Path:
    out = tmp_path / "proposed"
    shutil.copytree(SCENARIO / "bundle", out)
    if only_key_account:
        shutil.rmtree(out / "222222222222")
    (out / KEY_DIR / "get-key-policy.json").write_text(
        json.dumps({"Policy": json.dumps(key_policy), "PolicyName": "default"}), encoding="utf-8"
    )
    return out


def test_bundle_of_the_key_account_gives_the_same_answer_as_the_raw_document(
    run_cli: Run,
    db: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, raw = _impact(run_cli, db, "--key-policy", DATA / "key_policy_remove_cross_account.json", "--key", KEY)
    doc = json.loads((DATA / "key_policy_remove_cross_account.json").read_text())
    code, rep = _impact(run_cli, db, "--bundle", _bundle(tmp_path, doc, only_key_account=True))
    assert code == 5
    assert rep["breaks"] == raw["breaks"]
    # a bundle may change any key or principal: every observed call is replayed, the others are unchanged
    assert rep["observed"]["distinct_calls"] == 6 and rep["unchanged"] == 4
    assert rep["new_access"] is None and any("not computed for a whole bundle" in n for n in rep["notes"])


def test_bundle_with_the_policies_in_force_breaks_nothing(
    run_cli: Run,
    db: Path,  # noqa: F811
    tmp_path: Path,
    policy_now: dict[str, Any],  # noqa: F811
) -> None:
    code, rep = _impact(run_cli, db, "--bundle", _bundle(tmp_path, policy_now, only_key_account=True))
    assert code == 0 and rep["breaks"] == [] and rep["unchanged"] == rep["observed"]["distinct_calls"] == 6
