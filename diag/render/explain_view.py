"""Terminal rendering of one diagnosis: verdict, layers by account, evidence, the fix (JSON + commands).

Every string that can come from CloudTrail (ARNs, session names, user agents, error messages, policy text
copied from events) goes through ``safe_text`` (a rich Text: never parsed as markup, control characters
replaced), and JSON is printed line by line, never wrapped (JSON escaping already neutralizes ANSI).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from diag.render.escape import safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from diag.diagnosis.model import Diagnosis, Finding

_RESULT_STYLE = {
    "Allowed": "green",
    "ImplicitlyDenied": "red",
    "ExplicitlyDenied": "bold red",
    "Unknown": "yellow",
    "NotApplicable": "dim",
}


def _title(code: str) -> str:
    from diag.rules import load_rules

    for cls in load_rules():
        if cls.code == code:
            return cls.title
    return ""


def _deciding(layer: dict[str, Any]) -> str:
    """The statements that decided a layer: the denying ones, else the allowing ones (Sid or #index)."""
    stmts = layer.get("statements") or []
    pick = [s for s in stmts if s.get("applies") and s.get("effect") == "Deny"] or [
        s for s in stmts if s.get("applies") and s.get("effect") == "Allow"
    ]
    names = [f"{s.get('policy_name') or ''} {s.get('sid') or '#' + str(s.get('index'))}".strip() for s in pick[:3]]
    if names:
        return ", ".join(names)
    return layer.get("reason") or ""


def render_layers(console: Console, diag: Diagnosis) -> None:
    from rich.table import Table

    if not diag.layers:
        console.print(safe_text("layers: not evaluated (see the findings for what is missing)", style="yellow"))
        return
    from diag.render.tables import print_table

    table = Table(title="layers", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("layer", "account", "result"):  # identifiers (organization paths, account IDs): never cut
        table.add_column(col, no_wrap=True)
    table.add_column("decided by")  # prose: folds
    for layer in diag.layers:
        result = str(layer.get("result"))
        name = str(layer.get("layer"))
        if layer.get("org_identifier"):
            name += f" {layer['org_identifier']}"
        table.add_row(
            safe_text(name),
            safe_text(layer.get("account") or ""),
            safe_text(result, style=_RESULT_STYLE.get(result, "")),
            safe_text(_deciding(layer)),
        )
    print_table(console, table)


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """A few checkable lines: statements named by Sid/index/policy, values compared, history."""
    lines: list[str] = []

    def stmt_line(ref: dict[str, Any]) -> str:
        sid = f"Sid {ref.get('sid')!r}, " if ref.get("sid") else ""
        why = f": {ref['why']}" if ref.get("why") else ""
        return f"{ref.get('layer')} of account {ref.get('account')}, policy {ref.get('policy') or '-'}, {sid}statement #{ref.get('index')}{why}"

    for key, value in evidence.items():
        if isinstance(value, dict) and "index" in value and "layer" in value:
            lines.append(f"{key}: {stmt_line(value)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "index" in v for v in value):
            for v in value[:4]:
                lines.append(f"{key}: {stmt_line(v)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for v in value[:4]:
                lines.append(
                    f"{key}: "
                    + ", ".join(f"{k}={w}" for k, w in v.items() if w not in (None, [], "") and k != "collect")
                )
                for c in v.get("collect") or []:
                    lines.append(f"    {c}")
        elif value not in (None, [], {}, ""):
            text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
            lines.append(f"{key}: {text}")
    return lines


def print_policy(console: Console, policy: Any, indent: int = 4) -> None:
    """A policy document as indented JSON, each line whole: it parses when copied, at any width or piped."""
    text = json.dumps(policy, indent=2, ensure_ascii=True)
    pad = " " * indent
    for line in text.splitlines():
        console.print(safe_text(pad + line, style="cyan"), soft_wrap=True)


def render_finding(console: Console, f: Finding, *, primary: bool, others: tuple[Finding, ...] = ()) -> None:
    style = "bold red" if primary else "bold"
    head = safe_text(f"{'▶' if primary else '•'} {f.code}", style=style)
    head.append_text(safe_text(f"  [{f.layer}{', account ' + f.account if f.account else ''}]", style="dim"))
    console.print(head)
    console.print(safe_text(f"  {f.summary}"))
    for line in _evidence_lines(f.evidence):  # ARNs and statements: one line each, never wrapped
        console.print(safe_text(f"    {line}", style="dim"), soft_wrap=True)
    if f.fix is None:
        return
    console.print(safe_text(f"  fix: {f.fix.summary}", style="green"))
    from diag.proof.text import blast_label, proof_label

    for label in (proof_label(f.fix.proof, others), blast_label(f.fix.blast_radius)):
        if label:
            console.print(safe_text(f"  {label}", style="green" if label.startswith("proven") else "yellow"))
    if f.fix.policy:
        print_policy(console, f.fix.policy)
    for cmd in f.fix.commands:  # one line each, never wrapped, so that it pastes as it is
        console.print(safe_text(f"    {cmd}", style="dim" if cmd.startswith("#") else "cyan"), soft_wrap=True)


def already_fixed_line(diag: Diagnosis) -> str | None:
    """The first line of an explanation when the failure is already fixed: when, by whom, what changed."""
    fixed = next((x for x in diag.findings if x.code == "RESOLVED_SINCE"), None)
    if fixed is None:
        return None
    changes = fixed.evidence.get("changes_since") or []
    last = changes[-1] if changes else None
    if last:
        when = last.get("event_time")
        when_text = when.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(when, dt.datetime) else str(when or "?")
        what = " ".join(str(x) for x in (last.get("event_name"), last.get("resource")) if x)
        head = f"ALREADY FIXED at {when_text} by {last.get('actor') or 'an unknown actor'} ({what})"
        if len(changes) > 1:
            head += f", the last of {len(changes)} changes since the failure"
    else:
        as_of = fixed.evidence.get("policies_as_of")
        as_of_text = as_of.strftime("%Y-%m-%d %H:%M UTC") if isinstance(as_of, dt.datetime) else "the latest snapshot"
        head = f"ALREADY FIXED: the policies collected at {as_of_text} allow this call"
    causes_then = [x for x in diag.findings if x.code != "RESOLVED_SINCE"]
    tail = (
        "; nothing to change, retry the call. The cause at the time of the failure follows."
        if causes_then
        else "; nothing to change, retry the call."
    )
    return head + tail


def render_diagnosis(console: Console, diag: Diagnosis) -> None:
    """The whole explanation of one failed call (a failure fixed since says so on its first line)."""
    f = diag.facts
    fixed = already_fixed_line(diag)
    if fixed:
        console.print(safe_text(fixed, style="bold green"), soft_wrap=True)
    title = _title(diag.verdict)
    head = safe_text("verdict: ", style="bold")
    head.append_text(safe_text(diag.verdict, style="bold red" if diag.verdict != "RESOLVED_SINCE" else "bold green"))
    if title:
        head.append_text(safe_text(f" — {title}"))
    console.print(head)
    where = f.event_id or f.request_id or ("error text" if f.origin == "error-text" else "record")
    console.print(
        safe_text(
            f"event {where} at {f.event_time or '?'}: {f.event_name} {f.error_code or ''} in {f.region}", style="dim"
        ),
        soft_wrap=True,
    )
    console.print(
        safe_text(f"caller {f.caller_arn or f.principal_arn or '?'} (account {f.caller_account})", style="dim"),
        soft_wrap=True,
    )
    target = f.key_arn or f.key_id_given or (f"s3://{f.bucket}" if f.bucket else "?")
    console.print(
        safe_text(
            f"{'bucket' if f.is_s3 else 'key'} {target}" + (f" via {f.invoked_by}" if f.invoked_by else ""), style="dim"
        ),
        soft_wrap=True,
    )
    if f.user_agent:
        console.print(safe_text(f"user agent {f.user_agent}", style="dim"), soft_wrap=True)
    console.print()
    render_layers(console, diag)
    console.print()
    for i, finding in enumerate(diag.findings):
        render_finding(console, finding, primary=(i == 0), others=diag.findings)
        console.print()
    if diag.gaps and diag.verdict != "UNKNOWN":
        missing = ", ".join(f"{g['what']} of {g['account']}" for g in diag.gaps)
        console.print(
            safe_text(f"not collected (could also refuse; `--json` lists how to collect): {missing}", style="yellow")
        )
    as_of = diag.policies_as_of.strftime("%Y-%m-%d %H:%M:%S UTC") if diag.policies_as_of else "no snapshot"
    console.print(
        safe_text(
            f"policies as of {as_of}; engine decision at event time: {diag.decision or 'not evaluated'}", style="dim"
        )
    )
