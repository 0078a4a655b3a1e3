"""`kmsdiag audit` on the command line: formats, options, exit codes, and escaping of policy text."""

from __future__ import annotations

import json
from pathlib import Path

from diag.store import open_db
from tests.audit.bundles import ROLE_ARN, BundleBuilder, policy, root_statement

EVIL_SID = "[bold red]x[/]\x1b[31m|`*"


def _db(tmp_path: Path) -> Path:
    b = BundleBuilder()
    b.key(
        policy_doc=policy(
            root_statement(),
            {"Sid": EVIL_SID, "Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "kms:*", "Resource": "*"},
        )
    )
    b.role("DataProcessingRole", inline={"kms": policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})})
    path = tmp_path / "c.duckdb"
    con = open_db(path)
    b.load(con, tmp_path / "bundle")
    con.close()
    return path


def test_audit_json(tmp_path: Path, run_cli) -> None:
    db = _db(tmp_path)
    code, out, _ = run_cli("--db", db, "audit", "--json")
    assert code == 0
    doc = json.loads(out)
    codes = {f["code"] for f in doc["findings"]}
    assert {"key-policy-cross-account-admin", "identity-decrypt-all-keys"} <= codes
    admin = next(f for f in doc["findings"] if f["code"] == "key-policy-cross-account-admin")
    assert admin["sid"] == EVIL_SID and admin["statement_index"] == 1 and admin["severity"] == "high"
    assert admin["fix"]["summary"] and admin["fix"]["commands"]
    assert doc["counts"]["high"] >= 1
    assert doc["matrix"]["keys"][0]["principals"][0]["principal"] == ROLE_ARN
    code, out, _ = run_cli(
        "--db", db, "audit", "--format", "json", "--no-matrix", "--code", "identity-decrypt-all-keys"
    )
    doc = json.loads(out)
    assert doc["matrix"] is None and {f["code"] for f in doc["findings"]} == {"identity-decrypt-all-keys"}


def test_audit_table_and_md_escape_policy_text(tmp_path: Path, run_cli) -> None:
    db = _db(tmp_path)
    code, out, _ = run_cli("--db", db, "audit", "--fixes")
    assert code == 0
    assert "red]x[/]" in out and "\x1b" not in out  # markup printed literally, escape stripped
    md_file = tmp_path / "audit.md"
    code, _, _ = run_cli("--db", db, "audit", "--format", "md", "--out", md_file)
    md = md_file.read_text(encoding="utf-8")
    assert code == 0 and md.startswith("# kmsdiag audit")
    assert "\\[bold red\\]x\\[/\\]" in md and "\x1b" not in md and "\\|\\`\\*" in md
    assert "## Who can use each key" in md


def test_audit_usage_errors(tmp_path: Path, run_cli) -> None:
    db = _db(tmp_path)
    assert run_cli("--db", db, "audit", "--format", "xml")[0] == 2
    assert run_cli("--db", db, "audit", "--code", "no-such-code")[0] == 2
    assert run_cli("--db", db, "audit", "--snapshot", "999")[0] == 1
    empty = tmp_path / "empty.duckdb"
    open_db(empty).close()
    assert run_cli("--db", empty, "audit")[0] == 2


def test_every_rule_is_documented(tmp_path: Path) -> None:
    from diag.audit import load_rules

    readme = (Path(__file__).resolve().parents[2] / "docs" / "check-audit.md").read_text(encoding="utf-8")
    rules = load_rules()
    assert len(rules) >= 14
    for cls in rules:
        assert f"`{cls.code}`" in readme, f"docs/check-audit.md does not document {cls.code}"
    assert "`audit-error`" in readme


def test_audit_report_api_matches_the_cli(tmp_path: Path, run_cli) -> None:
    from diag.audit import audit_report

    db = _db(tmp_path)
    con = open_db(db, read_only=True)
    try:
        doc = audit_report(con)
    finally:
        con.close()
    code, out, _ = run_cli("--db", db, "audit", "--json")
    cli = json.loads(out)
    assert [f["code"] for f in doc["findings"]] == [f["code"] for f in cli["findings"]]
    assert doc["matrix"]["keys"][0]["principals"][0]["principal"] == ROLE_ARN
