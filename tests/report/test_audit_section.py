"""The report's policy-audit section: counts and grouping on a bundle made to trigger known findings,
escaping of a hostile Sid, the three formats, `--no-audit`, `--audit-matrix`, an empty database, and a
failing rule or audit that must not stop the report."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

from diag.audit import run_audit
from diag.audit.base import registered
from diag.report import render
from diag.report.audit_section import NO_POLICIES_MESSAGE
from diag.report.build import build_report
from diag.report.model import Report
from diag.report.window import parse_window
from diag.store import open_db
from tests.audit.bundles import (
    CALLER_ACCOUNT,
    KEY_ACCOUNT,
    KEY_ARN,
    OTHER_ACCOUNT,
    BundleBuilder,
    policy,
    root_statement,
)
from tests.report.factory import NOW, Expected
from tests.report.test_render import EXTERNAL

RunCli = Callable[..., tuple[int, str, str]]
WINDOW = ["--since", "2026-11-28T06:00:00Z", "--until", "2026-11-29T06:00:00Z"]
# closes an attribute and a tag, then opens a script: must show as text everywhere
HOSTILE_SID = "\"><script>alert('sid')</script>"
ESCAPED_SID = "&#34;&gt;&lt;script&gt;alert(&#39;sid&#39;)&lt;/script&gt;"
# statement 1 (hostile Sid): 222222222222's root, Decrypt, no condition → cross-account-root (medium) +
#   cross-account-statement-unscoped (low)
# statement 2 (no Sid): 333333333333's root, kms:* → cross-account-admin (high), cross-account-root (medium),
#   cross-account-statement-unscoped (low), key-policy-sid-missing (low)
EXPECTED_COUNTS = {"high": 1, "medium": 2, "low": 3, "info": 0}
EXPECTED_GROUPS = [
    ("high", "key-policy-cross-account-admin", 1),
    ("medium", "key-policy-cross-account-root", 2),
    ("low", "cross-account-statement-unscoped", 2),
    ("low", "key-policy-sid-missing", 1),
]


def _bundle() -> BundleBuilder:
    b = BundleBuilder()
    b.key(
        policy_doc=policy(
            root_statement(),
            {
                "Sid": HOSTILE_SID,
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{CALLER_ACCOUNT}:root"},
                "Action": ["kms:Decrypt"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
        )
    )
    b.role(
        "DataProcessingRole",
        inline={"kms": policy({"Sid": "UseDataKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN})},
    )
    b.account(OTHER_ACCOUNT)
    return b


@pytest.fixture(scope="module")
def _audit_template(tmp_path_factory: pytest.TempPathFactory, _walkthrough_template: tuple[Path, Expected]) -> Path:
    """The walk-through's failures plus a collected bundle with known audit findings (built once)."""
    folder = tmp_path_factory.mktemp("audit-report")
    path = folder / "audit.duckdb"
    shutil.copyfile(_walkthrough_template[0], path)
    con = open_db(path)
    _bundle().load(con, folder / "bundle")
    con.execute("CHECKPOINT")
    con.close()
    return path


@pytest.fixture
def audit_db(_audit_template: Path, db_path: Path) -> Path:
    shutil.copyfile(_audit_template, db_path)
    return db_path


@pytest.fixture
def audit_con(audit_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_db(audit_db)
    yield con
    con.close()


def _report(con: duckdb.DuckDBPyConnection, **kw: Any) -> Report:
    return build_report(con, parse_window("24h", now=NOW), generated_at=NOW, **kw)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_section_counts_and_groups_match_the_audit(audit_con: duckdb.DuckDBPyConnection) -> None:
    report = _report(audit_con)
    a = report.audit
    assert a is not None and a.status == "ok" and a.message is None and not a.errors
    assert a.counts == EXPECTED_COUNTS and a.total == 6
    # the same answer as `kmsdiag audit` (run_audit) on the same policies
    assert a.counts == {
        **dict.fromkeys(EXPECTED_COUNTS, 0),
        **Counter(f.severity for f in run_audit(audit_con, now=NOW)),
    }
    assert [(g.severity, g.code, g.count) for g in a.groups] == EXPECTED_GROUPS
    assert all(len(g.findings) == g.count for g in a.groups)
    root = a.groups[1].findings
    assert [(f["sid"], f["statement_index"]) for f in root] == [(HOSTILE_SID, 1), (None, 2)]
    for g in a.groups:
        for f in g.findings:
            assert f["account"] == KEY_ACCOUNT and f["resource"] == KEY_ARN and f["policy"] == "key policy"
            assert f["code"] == g.code and f["severity"] == g.severity and f["fix"]["summary"]
    assert a.accounts == sorted([KEY_ACCOUNT, CALLER_ACCOUNT, OTHER_ACCOUNT]) and len(a.snapshots) == 3
    assert a.now == NOW and a.matrix is None and a.matrix_summary is None  # no matrix by default: fast
    # the failure sections are the same with or without the audit
    plain = _report(audit_con, audit=False)
    assert plain.audit is None and plain.headline == report.headline and plain.causes == report.causes


def test_html_shows_counts_and_escapes_a_hostile_sid(audit_con: duckdb.DuckDBPyConnection) -> None:
    html = render(_report(audit_con), "html")
    assert '<section id="audit">' in html and '<a href="#audit">Policy audit</a>' in html
    assert 'data-figure="audit_high"><span class="value">1</span>' in html
    for sev, n in EXPECTED_COUNTS.items():
        assert f'data-severity="{sev}">{n} {sev}</span>' in html
    for sev, code, _n in EXPECTED_GROUPS:
        assert f'data-code="{code}" data-severity="{sev}"' in html
        assert f"<code>{code}</code>" in html
    assert html.count('<tr class="audit-finding">') == 6
    assert HOSTILE_SID not in html and "<script" not in html
    assert f"statement #1 · Sid &#34;{ESCAPED_SID}&#34;</span></td>" in html
    parsed = _Collector()
    parsed.feed(html)
    assert "script" not in parsed.tags
    assert HOSTILE_SID in "".join(parsed.text)  # shown as text
    assert not [p.pattern for p in EXTERNAL if p.search(html)]
    assert "Who can use each key (the engine's access matrix) is not in this report" in html


def test_markdown_is_short_and_inert(audit_con: duckdb.DuckDBPyConnection) -> None:
    md = render(_report(audit_con), "md")
    part = md[md.index("**Policy audit**") :]
    assert "**1 high** · 2 medium · 3 low · 0 info" in part.splitlines()[0]
    findings = [line for line in part.splitlines() if line.startswith("- ")]
    assert len(findings) == 5 and findings[0].startswith("- high `key-policy-cross-account-admin`")
    assert "…and 1 more audit findings" in part
    assert "<script" not in md and "&lt;script&gt;" in md  # the hostile Sid stays text
    assert md.index("**Policy audit**") < md.index("Data quality:")


def test_json_holds_every_finding_and_optionally_the_matrix(audit_con: duckdb.DuckDBPyConnection) -> None:
    data = json.loads(render(_report(audit_con), "json"))
    a = data["audit"]
    assert a["status"] == "ok" and a["counts"] == EXPECTED_COUNTS and a["total"] == 6
    assert [(g["severity"], g["code"], g["count"]) for g in a["groups"]] == EXPECTED_GROUPS
    assert a["groups"][1]["findings"][0]["sid"] == HOSTILE_SID  # JSON carries the data as it is
    assert a["matrix"] is None and a["collected_at"] == "2026-11-28T12:00:00Z"

    with_matrix = _report(audit_con, audit_matrix=True)
    assert with_matrix.audit is not None and with_matrix.audit.matrix is not None
    data = json.loads(render(with_matrix, "json"))
    keys = data["audit"]["matrix"]["keys"]
    assert [k["key_arn"] for k in keys] == [KEY_ARN]
    allowed = {p["principal"] for p in keys[0]["principals"]}
    assert f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole" in allowed
    summary = data["audit"]["matrix_summary"]
    assert summary[0]["principals"] == len(allowed) and summary[0]["other_account_principals"] >= 1
    html = render(with_matrix, "html")
    assert "Who can use each key (summary)" in html and "DataProcessingRole" not in html.split('id="audit-matrix"')[1]
    assert "Access matrix: 1 keys" in render(with_matrix, "md")


def test_cli_audit_section_and_no_audit(run_cli: RunCli, audit_db: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli("--db", audit_db, "report", *WINDOW, "--json", "--no-record")
    assert code == 0 and json.loads(out)["audit"]["counts"] == EXPECTED_COUNTS
    code, out, _ = run_cli("--db", audit_db, "report", *WINDOW, "--json", "--no-record", "--no-audit")
    data = json.loads(out)
    assert code == 0 and data["audit"] is None and data["headline"]["failures"] > 0
    code, out, _ = run_cli("--db", audit_db, "report", *WINDOW, "--format", "md", "--no-record", "--no-audit")
    assert code == 0 and "Policy audit" not in out and "**Fixes**" in out
    code, _, err = run_cli("--db", audit_db, "report", *WINDOW, "-o", tmp_path / "a.html")  # recorded: a writer
    assert code == 0 and "audit: 1 high, 2 medium, 3 low, 0 info" in err
    assert '<section id="audit">' in (tmp_path / "a.html").read_text()
    code, _, _ = run_cli("--db", audit_db, "report", *WINDOW, "-o", tmp_path / "n.html", "--no-audit")
    html = (tmp_path / "n.html").read_text()
    assert code == 0 and 'id="audit"' not in html and "#audit" not in html and "Policy audit" not in html
    code, out, _ = run_cli("--db", audit_db, "report", *WINDOW, "--json", "--no-record", "--audit-matrix")
    assert code == 0 and json.loads(out)["audit"]["matrix"]["keys"]
    code, _, err = run_cli("--db", audit_db, "report", *WINDOW, "--json", "--no-audit", "--audit-matrix")
    assert code == 2 and "--audit-matrix" in err


def test_no_collected_policies(run_cli: RunCli, db_path: Path, walkthrough_con: duckdb.DuckDBPyConnection) -> None:
    report = _report(walkthrough_con)  # failures, but no snapshot
    assert report.audit is not None and report.audit.status == "no_policies"
    assert report.audit.message == NO_POLICIES_MESSAGE and report.audit.total == 0
    html = render(report, "html")
    assert NO_POLICIES_MESSAGE in html and 'data-figure="audit_status"' in html
    assert "**Policy audit:** no collected policies: run `kmsdiag collect`." in render(report, "md")

    empty = db_path.with_name("empty.duckdb")  # an empty database: no events, no snapshot
    open_db(empty).close()
    for fmt in ("html", "md", "json"):
        code, out, err = run_cli("--db", empty, "report", *WINDOW, "--format", fmt, "--out", "-", "--no-record")
        assert code == 0, err
        assert ("no collected policies" in out) and ("run kmsdiag collect" in out or "`kmsdiag collect`" in out)
    data = json.loads(run_cli("--db", empty, "report", *WINDOW, "--json", "--no-record")[1])
    assert data["audit"]["status"] == "no_policies" and data["headline"]["failures"] == 0


def test_a_crashing_rule_is_an_audit_error_and_the_report_goes_on(
    audit_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_audit(audit_con, now=NOW, codes=set())  # load the rule modules
    rule = registered()["key-policy-sid-missing"]

    def boom(self: Any, ctx: Any) -> Any:
        raise RuntimeError("<b>rule exploded</b>")

    monkeypatch.setattr(rule, "run", boom)
    report = _report(audit_con)
    a = report.audit
    assert a is not None and a.status == "ok"
    assert [e["rule"] for e in a.errors] == ["key-policy-sid-missing"] and "rule exploded" in a.errors[0]["error"]
    codes = [g.code for g in a.groups]
    assert "audit-error" in codes and "key-policy-sid-missing" not in codes
    assert a.counts == {"high": 1, "medium": 3, "low": 2, "info": 0}  # the other rules still report
    assert report.headline.failures > 0
    html = render(report, "html")
    assert "1 audit error</strong>" in html and "&lt;b&gt;rule exploded&lt;/b&gt;" in html and "<b>rule" not in html
    assert "⚠ 1 audit check(s) failed" in render(report, "md")


def test_an_audit_that_cannot_run_leaves_the_report(
    audit_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diag.audit.context import AuditContext

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("corrupt snapshot <i>")

    monkeypatch.setattr(AuditContext, "load", broken)
    report = _report(audit_con)
    a = report.audit
    assert a is not None and a.status == "error" and a.total == 0
    assert a.errors[0]["rule"] is None and "corrupt snapshot" in a.errors[0]["error"]
    assert report.headline.failures > 0 and report.causes
    html = render(report, "html")
    assert "The audit could not run" in html and "corrupt snapshot &lt;i&gt;" in html
    assert "**Policy audit failed:**" in render(report, "md")
    assert json.loads(render(report, "json"))["audit"]["status"] == "error"


def test_findings_are_compared_with_the_previous_recorded_run(audit_con: duckdb.DuckDBPyConnection) -> None:
    import datetime as dt

    from diag.report.build import record_run

    first = _report(audit_con)
    assert first.audit is not None and first.audit.compared_with is None
    ids = [f["finding_id"] for g in first.audit.groups for f in g.findings]
    assert len(ids) == len(set(ids)) == first.audit.total  # one identity per finding
    assert all(f["new"] is None for g in first.audit.groups for f in g.findings)
    run = record_run(audit_con, first, fmt="json", out_path=None)
    # the same policies a day later: nothing new, nothing resolved, the same identities
    later = NOW + dt.timedelta(days=1)
    second = build_report(audit_con, parse_window("24h", now=later), generated_at=later)
    assert second.audit is not None and second.audit.compared_with == run
    assert (second.audit.new_findings, second.audit.resolved_findings) == (0, [])
    assert sorted(f["finding_id"] for g in second.audit.groups for f in g.findings) == sorted(ids)
    # as if the first run had one finding fewer and one that is gone now
    audit_con.execute("DELETE FROM report_run_findings WHERE run_id = ? AND finding_id = ?", [run, ids[0]])
    audit_con.execute(
        "INSERT INTO report_run_findings VALUES (?, 'f0', 'sid-missing', 'low', '111111111111', 'arn:k', 'gone')", [run]
    )
    third = build_report(audit_con, parse_window("24h", now=later), generated_at=later)
    assert third.audit is not None and third.audit.new_findings == 1
    assert [f["finding_id"] for g in third.audit.groups for f in g.findings if f["new"]] == [ids[0]]
    assert [f["finding_id"] for f in third.audit.resolved_findings or []] == ["f0"]
    md = render(third, "md")
    assert "**1 new finding**, 1 finding resolved" in md and "- **new** " in md
    html = render(third, "html")
    assert 'data-figure="audit_changes"' in html and '<span class="badge new">new</span>' in html


def test_a_run_without_audit_is_not_compared(audit_con: duckdb.DuckDBPyConnection) -> None:
    import datetime as dt

    from diag.report.build import record_run

    record_run(audit_con, _report(audit_con, audit=False), fmt="json", out_path=None)
    later = NOW + dt.timedelta(days=1)
    nxt = build_report(audit_con, parse_window("24h", now=later), generated_at=later)
    assert nxt.audit is not None and nxt.audit.compared_with is None and nxt.audit.new_findings is None
