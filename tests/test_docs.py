"""The README lists every command; docs/diagnosis-codes.md documents every diagnosis code; every
documented code has a rule and a scenario in sample_trails/; the documented verdict order is the code's.
The README stays a short front door; the docs site builds strictly; nothing a user reads cites DESIGN.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = REPO / "docs"
CODES_PAGE = (DOCS / "diagnosis-codes.md").read_text(encoding="utf-8")
CODE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.M)


def documented_codes() -> list[str]:
    return CODE_ROW.findall(CODES_PAGE)


def test_every_command_is_documented() -> None:
    from diag.cli.app import app

    names = sorted(c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands)
    assert names, "no command registered"
    missing = [n for n in names if f"kmsdiag {n}" not in README]
    assert not missing, f"commands not in README.md's command table (write `kmsdiag NAME`): {missing}"
    pages = "".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")) if p.name != "cli.md")
    undocumented = [n for n in names if f"kmsdiag {n}" not in pages]
    assert not undocumented, f"commands with no page in docs/ (besides the generated cli.md): {undocumented}"


def test_every_rule_is_documented_and_every_documented_code_has_a_rule() -> None:
    from diag.rules import load_rules

    rules = {r.code for r in load_rules()}
    docs = set(documented_codes())
    assert rules - docs == set(), f"codes with a rule but not in docs/diagnosis-codes.md: {sorted(rules - docs)}"
    assert docs - rules == set(), f"codes in docs/diagnosis-codes.md with no rule: {sorted(docs - rules)}"


def test_design_codes_all_implemented(shared_dir: Path) -> None:
    from diag.rules import load_rules

    design = (shared_dir / "DESIGN.md").read_text(encoding="utf-8")
    table = design[design.index("## 6.") : design.index("## 7.")]
    codes = set(re.findall(r"`([A-Z][A-Z_]{3,})`", table))
    assert codes - {r.code for r in load_rules()} == set()


def test_documented_verdict_order_is_the_codes() -> None:
    from diag.diagnosis.verdict import VERDICT_ORDER

    sec = CODES_PAGE
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


def test_readme_is_a_short_front_door() -> None:
    assert len(README.encode("utf-8")) <= 15 * 1024, "README.md is the front door: move details into docs/"
    for must in (
        "python3 -m venv .venv && . .venv/bin/activate",
        "python3 -m pip install '.[test]' -c constraints.txt && python3 -m pytest",
        "kmsdiag demo",
        "kmsdiag failures",
        "kmsdiag explain",
        "kmsdiag check",
        "| exit code | meaning |",
    ):
        assert must in README, must
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (REPO / link).is_file(), f"README links to a missing page: {link}"


def _strings_shown_to_users(path: Path) -> list[str]:
    """String constants of a module except docstrings (messages, hints, help texts); f-string parts too."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_nothing_a_user_reads_cites_the_design_document() -> None:
    from diag.cli.reference import cli_reference

    texts = {"README.md": README, "every --help (docs/cli.md)": cli_reference()}
    texts.update({f"docs/{p.name}": p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")})
    for path in (REPO / "diag").rglob("*.py"):
        texts[str(path.relative_to(REPO))] = "\n".join(_strings_shown_to_users(path))
    citing = sorted(name for name, text in texts.items() if "DESIGN" in text)
    assert not citing, f"DESIGN.md is not shipped to users; cite docs/ instead: {citing}"


def test_cli_reference_is_generated_from_the_commands() -> None:
    from diag.cli.reference import cli_reference

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert page == cli_reference(), "docs/cli.md is stale: run python -m diag.cli.reference > docs/cli.md"
    assert "<bool>" not in page and "list[str]" not in page and "<int" not in page


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install '.[docs]'")
    pytest.importorskip("material", reason="mkdocs-material is not installed: pip install '.[docs]'")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "diagnosis-codes" / "index.html").is_file()
    shutil.rmtree(tmp_path / "site")
