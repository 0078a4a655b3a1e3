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


def _shown(command: str, printed: tuple[str, ...]) -> bool:
    """Whether ``command`` is already printed among ``printed``: the same line, or a comment that a printed
    comment starts with (a collect plan's step comment extends a gap's credentials comment with what it fills)."""
    return command in printed or (command.startswith("#") and any(p.startswith(command) for p in printed))


def _evidence_lines(evidence: dict[str, Any], printed: tuple[str, ...] = ()) -> list[str]:
    """A few checkable lines: statements named by Sid/index/policy, values compared, history. A collect
    command that the fix prints (``printed``) is not repeated under its gap."""
    lines: list[str] = []

    def stmt_line(ref: dict[str, Any]) -> str:
        sid = f"Sid {ref.get('sid')!r}, " if ref.get("sid") else ""
        why = f": {ref['why']}" if ref.get("why") else ""
        acct = f" of account {ref.get('account')}" if ref.get("account") else ""
        return f"{ref.get('layer')}{acct}, policy {ref.get('policy') or '-'}, {sid}statement #{ref.get('index')}{why}"

    for key, value in evidence.items():
        if isinstance(value, dict) and "index" in value and "layer" in value:
            lines.append(f"{key}: {stmt_line(value)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "index" in v for v in value):
            for v in value[:4]:
                lines.append(f"{key}: {stmt_line(v)}")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for v in value:  # every item: missing evidence carries the commands that collect it
                lines.append(
                    f"{key}: "
                    + ", ".join(f"{k}={w}" for k, w in v.items() if w not in (None, [], "") and k != "collect")
                )
                for c in v.get("collect") or []:
                    if not _shown(c, printed):
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
    printed = tuple(f.fix.commands) if f.fix is not None else ()
    for line in _evidence_lines(f.evidence, printed):  # ARNs and statements: one line each, never wrapped
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
    proof_commands = tuple((f.fix.proof or {}).get("collect") or ())  # what an unprovable fix needs collected
    extra = tuple(c for c in proof_commands if not _shown(c, printed))  # not the fix's own commands again
    for cmd in (*f.fix.commands, *extra):  # one line each, never wrapped, so that it pastes as it is
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


def _event_lines(diag: Diagnosis) -> list[str]:
    """The event in three or four lines, with no empty or ``None`` value shown."""
    f = diag.facts
    if f.origin == "error-text" and not f.event_id:
        line = "error text" + (f" (request ID {f.request_id})" if f.request_id else "") + ", no CloudTrail record"
    else:
        line = f"event {f.event_id or f.request_id or 'record'}"
        if f.event_time:
            line += f" at {f.event_time}"
    line += f": {f.event_name or 'unknown call'}"
    if f.error_code:
        line += f" {f.error_code}"
    if f.region:
        line += f" in {f.region}"
    lines = [line]
    source = "the error text" if f.origin == "error-text" and not f.event_id else "the record"
    caller = f.caller_arn or f.principal_arn
    acct = f" (account {f.caller_account})" if f.caller_account else ""
    lines.append(f"caller {caller}{acct}" if caller else f"caller not named in {source}{acct}")
    target = f.key_arn or f.key_id_given or (f"s3://{f.bucket}" if f.bucket else None)
    noun = "bucket" if f.is_s3 else "key"
    if target or f.event_source in ("kms.amazonaws.com", "s3.amazonaws.com"):
        lines.append(f"{noun} {target or 'not named in ' + source}" + (f" via {f.invoked_by}" if f.invoked_by else ""))
    if f.user_agent:
        lines.append(f"user agent {f.user_agent}")
    return lines


def _render_success(console: Console, diag: Diagnosis) -> None:
    f = diag.facts
    head = safe_text("outcome: succeeded", style="bold green")
    head.append_text(
        safe_text(
            f" — {f.event_name or 'the call'} was allowed by AWS (the record has no error); no failure to explain"
        )
    )
    console.print(head)
    for line in _event_lines(diag):
        console.print(safe_text(line, style="dim"))
    console.print()
    if diag.allowed_by:
        console.print(safe_text("allowed by:", style="bold"))
        for a in diag.allowed_by:
            what = (
                f"grant {a['grant_id']}"
                if a.get("grant_id")
                else f"{a.get('policy') or a['layer']} statement {a.get('sid') or '#' + str(a.get('index'))}"
            )
            acct = f" of account {a['account']}" if a.get("account") else ""
            console.print(safe_text(f"  {a['layer']}{acct}: {what}"))
    elif diag.layers:
        console.print(
            safe_text(
                "which statements allowed it cannot be shown: not every deciding layer was collected", style="yellow"
            )
        )
        _render_gaps(console, diag)
    if diag.layers:
        render_layers(console, diag)


def _render_gaps(console: Console, diag: Diagnosis) -> None:
    """What was not collected (one line per gap), then how to collect it: each command once, under a comment
    naming whose credentials run it and the layers it fills (several layers share a bundle folder)."""
    from diag.diagnosis.collect_plan import collect_plan, plan_lines

    for gap in diag.gaps:
        console.print(safe_text(f"  {gap['what']}: {gap.get('reason') or 'not collected'}"), soft_wrap=True)
    lines = plan_lines(collect_plan(diag.gaps))
    if lines:
        console.print(safe_text("to collect them (each command once):", style="bold"))
    for line in lines:  # one line each, never wrapped, so that it pastes as it is
        console.print(safe_text(f"    {line}", style="dim" if line.startswith("#") else "cyan"), soft_wrap=True)
    if lines:
        console.print()


def render_diagnosis(console: Console, diag: Diagnosis, *, title: str = "") -> None:
    """The whole explanation of one call (a success says so in its first line). ``title``: the verdict's
    title (the rule's, ``diag.cli.explain_input.verdict_title``), printed after the code."""
    from diag.diagnosis.honesty import based_on_line

    if diag.outcome == "succeeded":
        _render_success(console, diag)
        console.print()
        if diag.based_on:
            console.print(safe_text(based_on_line(diag.based_on), style="dim"))
        return
    fixed = already_fixed_line(diag)
    if fixed:
        console.print(safe_text(fixed, style="bold green"), soft_wrap=True)
    verdict = diag.verdict or "UNKNOWN"
    head = safe_text("verdict: ", style="bold")
    head.append_text(safe_text(verdict, style="bold red" if verdict != "RESOLVED_SINCE" else "bold green"))
    if title:
        head.append_text(safe_text(f" — {title}"))
    console.print(head)
    for line in _event_lines(diag):
        console.print(safe_text(line, style="dim"), soft_wrap=True)
    console.print()
    if verdict == "OTHER_SERVICE":
        console.print(safe_text("layers: not evaluated (kmsdiag evaluates KMS and S3 calls only)", style="dim"))
    elif verdict == "NOT_ACCESS_FAILURE":
        console.print(safe_text("layers: not evaluated (the error is not an authorization refusal)", style="dim"))
    else:
        render_layers(console, diag)
    console.print()
    for i, finding in enumerate(diag.findings):
        render_finding(console, finding, primary=(i == 0), others=diag.findings)
        console.print()
    if diag.gaps and verdict != "UNKNOWN":
        missing = ", ".join(f"{g['what']}" + (f" of {g['account']}" if g.get("account") else "") for g in diag.gaps)
        console.print(
            safe_text(f"not collected (could also refuse; `--json` lists how to collect): {missing}", style="yellow")
        )
    known = diag.policies_as_of if (diag.based_on or {}).get("policies_as_of") is not None else None
    as_of = f"as of {known:%Y-%m-%d %H:%M:%S} UTC" if known else "none collected"
    console.print(
        safe_text(f"policies {as_of}; decision at event time: {diag.decision or 'not evaluated'}", style="dim")
    )
    if diag.based_on:
        console.print(safe_text(based_on_line(diag.based_on), style="dim"))
