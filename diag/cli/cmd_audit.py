"""`kmsdiag audit`: best-practice findings and the "who can use this key" matrix over the collected policies."""

# No `from __future__ import annotations` here: typer must see the Annotated options (their help).
from pathlib import Path
from typing import Annotated, Any

import typer

from diag import times
from diag.cli.common import command, open_reader, state
from diag.errors import UsageError

SnapshotOpt = Annotated[
    int | None, typer.Option("--snapshot", help="Audit this snapshot (default: each account's latest).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or md.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the output to this file.")]
GrantMaxAgeOpt = Annotated[int, typer.Option("--grant-max-age-days", help="Grants older than this are reported.")]
InUseDaysOpt = Annotated[
    int, typer.Option("--in-use-days", help="Window for 'key pending deletion still used' (days).")
]
CodeOpt = Annotated[list[str] | None, typer.Option("--code", help="Only these audit codes (repeatable).")]
MatrixOpt = Annotated[
    bool, typer.Option("--matrix/--no-matrix", help="Compute the who-can-use-each-key matrix (engine).")
]
KeyOpt = Annotated[list[str] | None, typer.Option("--key", help="Limit the matrix to these key ARNs (repeatable).")]
FixesOpt = Annotated[bool, typer.Option("--fixes", help="Table format: print each finding's fix.")]
ProveOpt = Annotated[
    bool,
    typer.Option(
        "--prove/--no-prove",
        help="Replay each fix against the KMS calls CloudTrail saw succeed in the last 30 days (fix.proof in JSON).",
    ),
]


def _check_options(fmt: str, grant_max_age_days: int, in_use_days: int, code: list[str] | None) -> str:
    """The output format (--json wins over --format); UsageError for a bad format, age or audit code."""
    from diag.audit.runner import load_rules

    fmt_l = "json" if state().json else fmt.lower()
    if fmt_l not in ("table", "json", "md"):
        raise UsageError(f"--format: table, json or md, not {fmt!r}")
    if grant_max_age_days < 0 or in_use_days < 0:
        raise UsageError("--grant-max-age-days and --in-use-days must be >= 0")
    known = {c.code for c in load_rules()} | {"audit-error"}
    unknown = sorted(set(code or ()) - known)
    if unknown:
        raise UsageError(f"unknown audit code(s): {', '.join(unknown)}", hint="known: " + ", ".join(sorted(known)))
    return fmt_l


def _run_audit(
    snapshot: int | None,
    grant_max_age_days: int,
    in_use_days: int,
    code: list[str] | None,
    *,
    matrix: bool,
    key: list[str] | None,
    prove: bool,
) -> tuple[list[Any], Any, dict[str, Any]]:
    """(findings, matrix or None, scope) over the collected policies of the database."""
    from diag.audit.context import AuditContext
    from diag.audit.matrix import compute_matrix
    from diag.audit.runner import run_rules

    con = open_reader()
    try:
        ctx = AuditContext.load(
            con,
            snapshot_id=snapshot,
            now=times.utcnow(),
            grant_max_age_days=grant_max_age_days,
            in_use_days=in_use_days,
        )
        if not ctx.snapshots:
            raise UsageError("no collected policies in this database", hint="run `kmsdiag collect` first")
        findings = run_rules(ctx, set(code) if code else None)
        if prove:
            from diag.impact.audit_proof import prove_findings

            findings = prove_findings(con, findings)
        mx = (compute_matrix(ctx, keys=key) if key else ctx.matrix()) if matrix else None
    finally:
        con.close()
    scope = {"accounts": ctx.accounts, "snapshots": ctx.snapshots, "pinned": ctx.pinned, "now": ctx.now}
    return findings, mx, scope


def _emit(fmt_l: str, findings: list[Any], mx: Any, scope: dict[str, Any], out_file: Path | None, fixes: bool) -> None:
    """Print the audit (or write it to ``out_file``) as JSON, Markdown or a table."""
    from diag.audit.render import audit_document, render_markdown
    from diag.files import write_private
    from diag.render.audit import render_table
    from diag.render.console import out, print_json, to_json

    if fmt_l == "json":
        doc = audit_document(findings, mx, scope)
        if out_file is not None:
            write_private(out_file, to_json(doc) + "\n")
        else:
            print_json(doc)
    elif fmt_l == "md":
        text = render_markdown(findings, mx, scope)
        if out_file is not None:
            write_private(out_file, text)
        else:
            import sys

            sys.stdout.write(text)
    elif out_file is not None:
        import io

        from rich.console import Console

        buf = io.StringIO()
        render_table(Console(file=buf, width=160, no_color=True), findings, mx, fixes)
        write_private(out_file, buf.getvalue())
    else:
        render_table(out(), findings, mx, fixes)


def audit(
    snapshot: SnapshotOpt = None,
    fmt: FormatOpt = "table",
    out_file: OutOpt = None,
    grant_max_age_days: GrantMaxAgeOpt = 90,
    in_use_days: InUseDaysOpt = 30,
    code: CodeOpt = None,
    matrix: MatrixOpt = True,
    key: KeyOpt = None,
    fixes: FixesOpt = False,
    prove: ProveOpt = True,
) -> int:
    """Is the KMS setup safe? Best-practice findings over the collected key and identity policies.

    Each finding has a stable code, a severity, the account, resource and statement (Sid, index), and a fix. Also prints, per key, who can use it across accounts (decided by the policy engine, as `kmsdiag check` would). --json is --format json.

    Example:  kmsdiag audit --format md --out audit.md --grant-max-age-days 180
    """
    fmt_l = _check_options(fmt, grant_max_age_days, in_use_days, code)
    findings, mx, scope = _run_audit(
        snapshot, grant_max_age_days, in_use_days, code, matrix=matrix, key=key, prove=prove
    )
    _emit(fmt_l, findings, mx, scope, out_file, fixes)
    return 0


def register(app: typer.Typer) -> None:
    command(app, "audit")(audit)
