"""Audit output: a rich table (terminal), Markdown (reports, tickets) and the JSON document.

Every value that came from a policy or CloudTrail goes through ``safe_text`` (terminal) or is escaped
for Markdown (``md_escape``): a Sid or ARN can never inject markup.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from diag.render.escape import safe_text, strip_control
from diag.render.tables import print_table

if TYPE_CHECKING:
    from rich.console import Console

    from diag.audit.access import AccessMatrix
    from diag.audit.base import AuditFinding

_SEV_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def audit_document(findings: list[AuditFinding], matrix: AccessMatrix | None, scope: dict[str, Any]) -> dict[str, Any]:
    """The `kmsdiag audit --format json` document."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return {
        "scope": scope,
        "counts": counts,
        "findings": [f.to_dict() for f in findings],
        "matrix": matrix.to_dict() if matrix is not None else None,
    }


def _where(f: AuditFinding) -> str:
    parts = [f.policy or ""]
    if f.statement_index is not None:
        parts.append(f"#{f.statement_index}")
    if f.sid:
        parts.append(f"Sid {f.sid!r}")
    return " ".join(p for p in parts if p)


def render_table(console: Console, findings: list[AuditFinding], matrix: AccessMatrix | None, verbose: bool) -> None:
    from rich.table import Table

    if not findings:
        console.print(safe_text("no audit findings", style="green"))
    else:
        table = Table(title=f"audit findings ({len(findings)})", title_justify="left", show_edge=False, pad_edge=False)
        for col in ("severity", "code", "account"):
            table.add_column(col, no_wrap=True)
        table.add_column("finding")
        for f in findings:
            table.add_row(
                safe_text(f.severity, style=_SEV_STYLE.get(f.severity, "")),
                safe_text(f.code),
                safe_text(f.account or ""),
                safe_text(f.summary),
            )
        print_table(console, table)
        if verbose:
            for f in findings:
                if f.fix is None:
                    continue
                console.print()
                console.print(safe_text(f"{f.code} — {f.resource or ''}", style="bold"))
                console.print(safe_text(f"  fix: {f.fix.summary}", style="green"))
                if f.fix.policy:
                    console.print(safe_text("  " + json.dumps(f.fix.policy, default=str), style="cyan"), soft_wrap=True)
                for c in f.fix.commands:
                    console.print(safe_text(f"  {c}", style="dim"), soft_wrap=True)
    if matrix is not None:
        render_matrix(console, matrix)


def _cell(actions: tuple[str, ...] | list[str]) -> str:
    return ", ".join(a.split(":", 1)[-1] for a in actions)


def render_matrix(console: Console, matrix: AccessMatrix) -> None:
    from rich.table import Table

    for ka in matrix.keys:
        title = f"who can use {ka.key_arn}" + (f" ({', '.join(ka.aliases)})" if ka.aliases else "")
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        for col in ("principal", "account"):
            table.add_column(col, no_wrap=True)
        for col in ("direct", "only via a service"):
            table.add_column(col)
        for p in ka.principals:
            via = "; ".join(f"{_cell(v)} via {k}" for k, v in p.via.items())
            table.add_row(
                safe_text(p.principal + (" (unverified)" if p.unverified else "")),
                safe_text(p.account),
                safe_text(_cell(p.direct)),
                safe_text(via),
            )
        console.print()
        print_table(console, table)
        if not ka.policy_known:
            console.print(safe_text("  the key policy was not collected: this list is partial", style="yellow"))
        if not ka.principals:
            console.print(safe_text(f"  no collected principal can use it ({ka.evaluated} evaluated)", style="dim"))


def md_escape(value: object) -> str:
    text = strip_control("" if value is None else str(value))
    for ch in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#"):
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def render_markdown(findings: list[AuditFinding], matrix: AccessMatrix | None, scope: dict[str, Any]) -> str:
    lines = ["# kmsdiag audit", ""]
    lines.append(
        f"Accounts: {md_escape(', '.join(scope.get('accounts') or []))}; snapshots:"
        f" {md_escape(', '.join(str(s) for s in scope.get('snapshots', {}).values()))}; {len(findings)} finding(s)."
    )
    lines += ["", "| severity | code | account | resource | where | finding | fix |", "|---|---|---|---|---|---|---|"]
    for f in findings:
        lines.append(
            "| "
            + " | ".join(
                md_escape(x)
                for x in (
                    f.severity,
                    f.code,
                    f.account,
                    f.resource,
                    _where(f),
                    f.summary,
                    f.fix.summary if f.fix else "",
                )
            )
            + " |"
        )
    if matrix is not None:
        lines += ["", "## Who can use each key", ""]
        for ka in matrix.keys:
            lines.append(
                f"### {md_escape(ka.key_arn)}" + (f" ({md_escape(', '.join(ka.aliases))})" if ka.aliases else "")
            )
            lines.append("")
            if not ka.policy_known:
                lines += ["The key policy was not collected: this list is partial.", ""]
            if not ka.principals:
                lines += [f"No collected principal can use it ({ka.evaluated} evaluated).", ""]
                continue
            lines += ["| principal | account | direct | only via a service |", "|---|---|---|---|"]
            for p in ka.principals:
                via = "; ".join(f"{_cell(v)} via {k}" for k, v in p.via.items())
                lines.append(
                    f"| {md_escape(p.principal)}{' (unverified)' if p.unverified else ''} | {md_escape(p.account)}"
                    f" | {md_escape(_cell(p.direct))} | {md_escape(via)} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"
