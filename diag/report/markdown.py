"""The Markdown report: short enough for a chat message or a ticket (top causes, their fixes, data quality).

CloudTrail-sourced text is made inert: control characters removed, newlines folded, and characters that
Markdown or chat clients interpret (``| ` * _ [ ] < > \\``) escaped or replaced.
"""

from __future__ import annotations

import re

from diag.report import fmt
from diag.report.model import Report
from diag.textclean import strip_control

MAX_CAUSES = 10
MAX_AUDIT_FINDINGS = 5
MAX_FIX_CHARS = 200
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~])")


def md_text(value: object) -> str:
    """Untrusted text as inert Markdown: one line, specials backslash-escaped, angle brackets as entities."""
    text = " ".join(strip_control(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def code_name(value: object) -> str:
    """A diagnosis code as plain text: only ``[A-Za-z0-9_]`` survive (intraword ``_`` is not emphasis)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", str(value or ""))[:60] or "—"


def md_code(value: object) -> str:
    """Untrusted text in a code span (backticks cannot close it: they are replaced)."""
    text = " ".join(strip_control(value).split()).replace("`", "'").replace("|", "¦")
    return f"`{text}`" if text else "—"


def md_command(command: str) -> str:
    """A shell command as a code span that shows it exactly: the fence is longer than any run of backticks
    inside (md_code's replacement of backticks and collapsing of spaces would change the command's quoting).
    A command spread over several lines (a quoted value holding a newline) has no faithful one-line form."""
    text = strip_control(command)
    if "\n" in text or "\t" in text:
        return "(a multi-line command: see the HTML or JSON report)"
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _clip(text: str, limit: int = MAX_FIX_CHARS) -> str:
    text = " ".join(strip_control(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def audit_lines(report: Report, *, max_findings: int = MAX_AUDIT_FINDINGS) -> list[str]:
    """The policy-audit part: counts per severity, the top findings (highest severity first) with their
    fix, audit errors, and the access-matrix totals when it was computed. Empty when the audit was skipped."""
    a = report.audit
    if a is None:
        return []
    if a.status == "no_policies":
        return ["", "**Policy audit:** no collected policies: run `kmsdiag collect`."]
    errors = [
        f"{md_code(e.get('rule') or 'audit')} ({md_text(_clip(str(e.get('error') or ''), 120))})" for e in a.errors
    ]
    if a.status != "ok":
        return ["", "**Policy audit failed:** " + "; ".join(errors) + ". Run `kmsdiag audit --debug`."]
    counts = " · ".join(f"**{n} {sev}**" if sev == "high" and n else f"{n} {sev}" for sev, n in a.counts.items())
    accounts = f"{len(a.accounts)} account{'s' if len(a.accounts) != 1 else ''}"
    lines = ["", f"**Policy audit** ({accounts}, policies collected {fmt.ts(a.collected_at)}): {counts}"]
    if a.compared_with is not None:
        lines.append(
            f"Since the report of {fmt.ts(a.compared_at)}: **{fmt.count(a.new_findings, 'new finding')}**,"
            f" {fmt.count(len(a.resolved_findings or []), 'finding')} resolved."
        )
    if errors:
        lines.append(f"⚠ {len(errors)} audit check(s) failed, their findings are missing: " + "; ".join(errors))
    findings = [f for g in a.groups for f in g.findings]
    for f in findings[:max_findings]:
        fix = f.get("fix") or {}
        where = [fmt.audit_resource(f)]
        if fmt.audit_where(f) != "—":
            where.append(fmt.audit_where(f))
        text = fix.get("summary") or f.get("summary") or ""
        lines.append(
            f"- {'**new** ' if f.get('new') else ''}{md_text(f.get('severity'))} {md_code(f.get('code'))}"
            f" {md_text(' · '.join(where) or '—')}:"
            f" {md_text(_clip(str(text)))}"
        )
    if len(findings) > max_findings:
        lines.append(f"…and {len(findings) - max_findings} more audit findings in the HTML/JSON report.")
    if a.matrix_summary is not None:
        allowed = sum(k["principals"] for k in a.matrix_summary)
        other = sum(k["other_account_principals"] for k in a.matrix_summary)
        lines.append(
            f"Access matrix: {len(a.matrix_summary)} keys, {allowed} principal-key pairs allowed"
            f" ({other} from another account); details in the JSON report."
        )
    return lines


def render_markdown(report: Report, *, max_causes: int = MAX_CAUSES) -> str:
    h = report.headline
    dq = report.data_quality
    lines = [
        f"## KMS access failures: {fmt.ts(report.window_start)} → {fmt.ts(report.window_end)}",
        "",
    ]
    if not h.failures:
        lines.append("**No KMS access failures in this window.**")
        if dq.newest_event is None:
            lines.append("The database holds no events at all: is `kmsdiag ingest` running?")
        elif dq.newest_event < report.window_start:
            lines.append(f"Newest event: {fmt.ts(dq.newest_event)}, before this window: check ingestion.")
    else:
        lines.append(
            f"**{fmt.count(h.failures, 'failure')}** · {fmt.count(h.causes, 'cause')} · {fmt.count(h.keys, 'key')} · "
            f"{fmt.count(h.accounts, 'account')} · **{fmt.num(h.new_causes)} new**, "
            f"{fmt.num(h.resolved_causes)} resolved since the last report"
        )
    if h.not_diagnosed or h.unknown:
        lines.append(f"⚠ {fmt.num(h.not_diagnosed)} not diagnosed, {fmt.num(h.unknown)} UNKNOWN (too little evidence).")
    if report.causes:
        lines += [
            "",
            "| # | failures | verdict | caller → key | action | status |",
            "|---|---:|---|---|---|---|",
        ]
        for i, c in enumerate(report.causes[:max_causes], 1):
            status = c.status.replace("_", " ") + (" (fixed)" if c.already_fixed else "")
            lines.append(
                f"| {i} | {fmt.num(c.failures)} | {code_name(c.verdict)} | {md_code(fmt.short_arn(c.caller))} → "
                f"{md_code(fmt.short_arn(c.key_ref))} | {md_code(c.action or '')} | {status} |"
            )
        if len(report.causes) > max_causes:
            lines.append(f"\n…and {len(report.causes) - max_causes} more causes in the HTML/JSON report.")
        lines += ["", "**What each answer rests on**"]
        lines += [
            f"{i}. decision {md_text(c.decision or 'not evaluated')}; {md_text(c.based_on_text)}"
            for i, c in enumerate(report.causes[:max_causes], 1)
        ]
        fixes = []
        for i, c in enumerate(report.causes[:max_causes], 1):
            fix = fmt.first_fix(c.findings)
            if not fix:
                continue
            entry = f"{i}. **{code_name(c.verdict)}**: {md_text(fix.get('summary') or c.summary or '')}"
            proof = (fix.get("proof") or {}).get("status")
            if proof:  # re-checked by the engine (diag.proof): proven, needs other fixes, or unprovable
                entry += f" ({md_text(proof.replace('_', ' '))})"
            cmds = fmt.commands(fix)
            # the first real command (fixes often start with a "# with credentials of …" comment)
            shown = next((c for c in cmds if not c.lstrip().startswith("#")), cmds[0] if cmds else None)
            if shown:
                entry += f"\n   {md_command(shown)}"
                if len(cmds) > 1:
                    entry += f" (+{len(cmds) - 1} more lines in the HTML report)"
            fixes.append(entry)
        if fixes:
            lines += ["", "**Fixes**", *fixes]
    if report.resolved_causes:
        shown = ", ".join(
            f"{code_name(c.verdict)} {md_code(fmt.short_arn(c.caller))} → {md_code(fmt.short_arn(c.key_ref))}"
            for c in report.resolved_causes[:5]
        )
        more = f" (+{len(report.resolved_causes) - 5} more)" if len(report.resolved_causes) > 5 else ""
        lines += ["", f"**Resolved since the last report:** {shown}{more}"]
    lines += audit_lines(report)
    quality = [f"{fmt.num(dq.refused_files)} refused inputs"]
    quality.append(
        "no policy collection (run `kmsdiag collect`)"
        if dq.collection_gaps is None
        else f"{fmt.num(dq.collection_gaps)} collection gaps"
    )
    quality.append(f"newest event {fmt.ts(dq.newest_event)}")
    lines += ["", "Data quality: " + "; ".join(quality) + "."]
    return "\n".join(lines) + "\n"
