"""The README documents every command and every diagnosis code; every documented code has a rule and a
scenario in sample_trails/; the README's verdict order is the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
CODE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.M)


def _section(name: str) -> str:
    start = README.index(f"<!-- section: {name} -->")
    nxt = README.find("<!-- section:", start + 1)
    return README[start : nxt if nxt != -1 else None]


def documented_codes() -> list[str]:
    return CODE_ROW.findall(_section("diagnosis"))


def test_every_command_is_documented() -> None:
    from diag.cli.app import app

    names = sorted(c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands)
    assert names, "no command registered"
    missing = [n for n in names if f"kmsdiag {n}" not in README]
    assert not missing, f"commands not documented in README.md (write `kmsdiag NAME` in your section): {missing}"


def test_every_rule_is_documented_and_every_documented_code_has_a_rule() -> None:
    from diag.rules import load_rules

    rules = {r.code for r in load_rules()}
    docs = set(documented_codes())
    assert rules - docs == set(), f"codes with a rule but not in the README's code table: {sorted(rules - docs)}"
    assert docs - rules == set(), f"codes in the README with no rule: {sorted(docs - rules)}"


def test_design_codes_all_implemented(shared_dir: Path) -> None:
    from diag.rules import load_rules

    design = (shared_dir / "DESIGN.md").read_text(encoding="utf-8")
    table = design[design.index("## 6.") : design.index("## 7.")]
    codes = set(re.findall(r"`([A-Z][A-Z_]{3,})`", table))
    assert codes - {r.code for r in load_rules()} == set()


def test_readme_verdict_order_is_the_codes() -> None:
    from diag.diagnosis.verdict import VERDICT_ORDER

    sec = _section("diagnosis")
    block = sec[sec.index("the layer to fix first") : sec.index("| code |")]
    listed = re.findall(r"\d+\. `([A-Z0-9_]+)`", block)
    assert listed == [c for c in VERDICT_ORDER if c != "RULE_ERROR"]


def test_every_documented_code_has_a_scenario() -> None:
    trails = REPO / "sample_trails"
    expected = sorted(trails.glob("*/expected.json")) if trails.is_dir() else []
    if not expected:
        pytest.skip("sample_trails/ has no scenarios on this checkout")
    covered: set[str] = set()
    for path in expected:
        for label in json.loads(path.read_text(encoding="utf-8")).values():
            covered.add(label["verdict"])
            covered.update(label.get("codes", []))
    missing = sorted(set(documented_codes()) - covered)
    assert not missing, f"diagnosis codes with no scenario in sample_trails/*/expected.json: {missing}"
