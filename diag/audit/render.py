"""Audit output: Markdown (reports, tickets) and the JSON document (the terminal table is
``diag.render.audit``).

Every value that came from a policy or CloudTrail is escaped for Markdown (``md_escape``): a Sid or ARN
can never inject markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag.textclean import strip_control

if TYPE_CHECKING:
    from diag.audit.access import AccessMatrix
    from diag.audit.base import AuditFinding


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


def where(f: AuditFinding) -> str:
    """Where a finding is: the policy, the statement's index and Sid."""
    parts = [f.policy or ""]
    if f.statement_index is not None:
        parts.append(f"#{f.statement_index}")
    if f.sid:
        parts.append(f"Sid {f.sid!r}")
    return " ".join(p for p in parts if p)


def cell(actions: tuple[str, ...] | list[str]) -> str:
    """A matrix cell: the actions, short."""
    return ", ".join(a.split(":", 1)[-1] for a in actions)


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
                    where(f),
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
                via = "; ".join(f"{cell(v)} via {k}" for k, v in p.via.items())
                lines.append(
                    f"| {md_escape(p.principal)}{' (unverified)' if p.unverified else ''} | {md_escape(p.account)}"
                    f" | {md_escape(cell(p.direct))} | {md_escape(via)} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"
