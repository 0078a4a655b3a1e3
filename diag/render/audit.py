"""`kmsdiag audit` on the terminal: the findings table and the access matrix (every value from a policy or
CloudTrail goes through ``safe_text``: a Sid or ARN can never inject markup)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from diag.audit.render import cell
from diag.render.escape import safe_text
from diag.render.tables import print_table

if TYPE_CHECKING:
    from rich.console import Console

    from diag.audit.base import AuditFinding
    from diag.audit.matrix import AccessMatrix

_SEV_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


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
            via = "; ".join(f"{cell(v)} via {k}" for k, v in p.via.items())
            table.add_row(
                safe_text(p.principal + (" (unverified)" if p.unverified else "")),
                safe_text(p.account),
                safe_text(cell(p.direct)),
                safe_text(via),
            )
        console.print()
        print_table(console, table)
        if not ka.policy_known:
            console.print(safe_text("  the key policy was not collected: this list is partial", style="yellow"))
        if not ka.principals:
            console.print(safe_text(f"  no collected principal can use it ({ka.evaluated} evaluated)", style="dim"))
