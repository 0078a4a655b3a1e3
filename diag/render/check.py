"""Terminal rendering of check results: one verdict line per action, the layers table, the findings
(the diagnosis renderer's when the rules ran) or the engine evidence, and a summary table for many checks.

Every value that came from a policy or the user (ARNs, Sids, context values) goes through ``safe_text``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from diag.render.escape import safe_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from diag.check.run import ActionResult, CheckResult

_STYLE = {
    "Allowed": "bold green",
    "ImplicitlyDenied": "bold red",
    "ExplicitlyDenied": "bold red",
    "Unknown": "yellow",
    "NotApplicable": "dim",
}


def _decided_by(layer: dict[str, Any]) -> str:
    stmts = layer.get("statements") or []
    pick = [s for s in stmts if s.get("applies") and s.get("effect") == "Deny"] or [
        s for s in stmts if s.get("applies") and s.get("effect") == "Allow"
    ]
    names = [str(s.get("sid") or f"#{s.get('index')}") for s in pick[:3]]
    grants = [g.get("grant_id", "")[:12] for g in layer.get("grants") or [] if g.get("applies")]
    if grants:
        names.append("grant " + ", ".join(grants))
    return ", ".join(names) or str(layer.get("reason") or "")


def render_layers(console: Console, ar: ActionResult) -> None:
    from rich.table import Table

    from diag.render.tables import print_table

    table = Table(show_edge=False, pad_edge=False, box=None)
    for col in ("layer", "account", "result"):  # organization paths and account IDs: never cut
        table.add_column(col, no_wrap=True)
    table.add_column("decided by")
    for lt in ar.result.layers:
        d = lt.to_dict()
        name = d["layer"] + (f" {d['org_identifier']}" if d.get("org_identifier") else "")
        table.add_row(
            safe_text(name),
            safe_text(d.get("account") or ""),
            safe_text(d["result"], style=_STYLE.get(d["result"], "")),
            safe_text(_decided_by(d)),
        )
    print_table(console, table)


def _render_evidence(console: Console, evidence: dict[str, Any]) -> None:
    head = f"  ✘ {evidence['layer']}"
    if evidence.get("account"):
        head += f" (account {evidence['account']})"
    console.print(safe_text(f"{head}: {evidence['result']} — {evidence.get('reason') or ''}", style="bold"))
    for st in evidence.get("denying_statements") or []:
        console.print(
            safe_text(f"    denied by {st.get('policy') or ''} statement #{st['index']} Sid {st.get('sid')!r}")
        )
    for st in evidence.get("closest_statements") or []:
        line = f"    closest: {st.get('policy') or ''} statement #{st['index']}"
        if st.get("sid"):
            line += f" Sid {st['sid']!r}"
        line += f" — does not match on {', '.join(st.get('failed') or []) or '?'}"
        console.print(safe_text(line, style="dim"))
        for nm in st.get("near_misses") or []:
            console.print(
                safe_text(f"      ≈ {nm['policy_value']} vs {nm['request_value']}: {nm['detail']}", style="yellow")
            )
        for c in st.get("conditions_failed") or []:
            got = "absent" if c["request_values"] is None else ", ".join(c["request_values"])
            console.print(
                safe_text(
                    f"      condition {c['operator']} {c['key']}: {', '.join(c['policy_values'])} (request: {got})"
                )
            )
    fix = evidence.get("fix")
    if fix:
        console.print(safe_text(f"    fix: {fix['summary']}", style="green"))
        if fix.get("statement"):
            console.print(safe_text("      " + json.dumps(fix["statement"]), style="cyan"))


def _render_findings(console: Console, ar: ActionResult) -> None:
    from diag.diagnosis.model import Finding, Fix
    from diag.render.explain_view import render_finding

    findings = []
    for f in ar.findings:
        fx = f.get("fix")
        fix = (
            Fix(
                fx["summary"],
                fx.get("policy"),
                tuple(fx.get("commands") or ()),
                fx.get("target"),
                proof=fx.get("proof"),
                blast_radius=fx.get("blast_radius"),
            )
            if fx
            else None
        )
        findings.append(Finding(f["code"], f["layer"], f.get("account"), f["summary"], f.get("evidence") or {}, fix))
    for i, finding in enumerate(findings):
        render_finding(console, finding, primary=i == 0, others=tuple(findings))


def render_check(console: Console, cr: CheckResult, *, verbose: bool = True) -> None:
    """One check: caller, key, then per action the decision, the layers table and why."""
    req = cr.request
    title = f"{cr.caller.principal_arn} → {cr.key_arn}"
    if req.name:
        title = f"{req.name}: {title}"
    console.print(safe_text(title, style="bold"))
    how = []
    if req.via_service:
        how.append(f"via {req.via_service}")
    if req.encryption_context:
        how.append("encryption context " + json.dumps(req.encryption_context, sort_keys=True))
    if req.condition_keys:
        how.append("context " + json.dumps(req.condition_keys, sort_keys=True))
    how.append(f"policies as of {cr.policies_as_of or 'latest'}")
    console.print(safe_text("  " + "; ".join(how), style="dim"))
    for ar in cr.results:
        mark = "✔" if ar.allowed else "✘"
        line = safe_text(f"{mark} {ar.action}: ", style="bold")
        line.append_text(safe_text(ar.decision, style=_STYLE.get(ar.decision, "")))
        if ar.expected == "denied":
            line.append_text(safe_text(f"  (expected denied: {'ok' if ar.as_expected else 'NOT AS EXPECTED'})"))
        line.append_text(safe_text(f" — {ar.result.reason}" if ar.result.reason else ""))
        if ar.blocked_by_key_state:
            line.append_text(
                safe_text(f"; but the key is {ar.blocked_by_key_state}: KMS refuses the call", style="bold red")
            )
        console.print(line)
        if ar.result.unknown:
            console.print(
                safe_text(
                    "  not collected (counted as allowing): " + ", ".join(str(u) for u in ar.result.unknown),
                    style="yellow",
                )
            )
        if not verbose and ar.allowed:
            continue
        render_layers(console, ar)
        if ar.findings:
            _render_findings(console, ar)
        for ev in ar.evidence:
            _render_evidence(console, ev)
    for g in cr.gaps:
        console.print(safe_text(f"  gap: {g['what']} {g.get('resource') or ''}: {g['reason']}", style="yellow"))
    _render_collect_plan(console, cr.gaps)
    for n in cr.notes:
        console.print(safe_text(f"  note: {n}", style="dim"))


def _render_collect_plan(console: Console, gaps: Sequence[dict[str, Any]]) -> None:
    """What fills the gaps, each command once (grouped by where its files go), whole on one line."""
    from diag.diagnosis.collect_plan import collect_plan, plan_lines
    from diag.rules.unknown import gap_entry

    entries = [
        gap_entry(g["what"], g.get("account"), g.get("resource"), g["reason"], region=None, how=g.get("collect") or "")
        for g in gaps
    ]
    lines = plan_lines(collect_plan(entries))
    if lines:
        console.print(safe_text("  to collect them (each command once):", style="bold"))
    for line in lines:  # never wrapped, so that it pastes as it is
        console.print(safe_text(f"    {line}", style="dim" if line.startswith("#") else "cyan"), soft_wrap=True)


def render_summary(console: Console, results: list[CheckResult]) -> None:
    """The results table of a checks file: one row per (check, action)."""
    from rich.table import Table

    from diag.render.tables import print_table

    table = Table(title="checks", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("check", "principal", "action", "key", "expected", "decision", "why"):
        table.add_column(col, no_wrap=col not in ("check", "why"))  # ARNs and actions whole; prose folds
    for cr in results:
        for ar in cr.results:
            why = ar.verdict or (", ".join(str(x) for x in ar.result.deciding_layers) if not ar.allowed else "")
            if ar.blocked_by_key_state and not ar.verdict:
                why = f"key {ar.blocked_by_key_state}"
            table.add_row(
                safe_text(cr.request.name or ""),
                safe_text(cr.caller.principal_arn),
                safe_text(ar.action),
                safe_text(cr.key_arn),
                safe_text(ar.expected),
                safe_text(ar.decision, style=_STYLE.get(ar.decision, "") if ar.as_expected else "bold red"),
                safe_text(why),
            )
    print_table(console, table)
