"""`kmsdiag audit`: best-practice findings and the "who can use this key" matrix over the collected policies."""

# No `from __future__ import annotations` here: typer must see the Annotated options (their help).
from pathlib import Path
from typing import Annotated

import typer

from diag import times
from diag.cli.common import command, open_reader, state
from diag.errors import UsageError


def register(app: typer.Typer) -> None:
    @command(app, "audit")
    def audit(
        snapshot: Annotated[
            int | None, typer.Option("--snapshot", help="Audit this snapshot (default: each account's latest).")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="table, json or md.")] = "table",
        out_file: Annotated[Path | None, typer.Option("--out", help="Write the output to this file.")] = None,
        grant_max_age_days: Annotated[
            int, typer.Option("--grant-max-age-days", help="Grants older than this are reported.")
        ] = 90,
        in_use_days: Annotated[
            int, typer.Option("--in-use-days", help="Window for 'key pending deletion still used' (days).")
        ] = 30,
        code: Annotated[list[str] | None, typer.Option("--code", help="Only these audit codes (repeatable).")] = None,
        matrix: Annotated[
            bool, typer.Option("--matrix/--no-matrix", help="Compute the who-can-use-each-key matrix (engine).")
        ] = True,
        key: Annotated[
            list[str] | None, typer.Option("--key", help="Limit the matrix to these key ARNs (repeatable).")
        ] = None,
        fixes: Annotated[bool, typer.Option("--fixes", help="Table format: print each finding's fix.")] = False,
        prove: Annotated[
            bool,
            typer.Option(
                "--prove/--no-prove",
                help="Replay each fix against the KMS calls CloudTrail saw succeed in the last 30 days (fix.proof in JSON).",
            ),
        ] = True,
    ) -> int:
        """Is the KMS setup safe? Best-practice findings over the collected key and identity policies.

        Each finding has a stable code, a severity, the account, resource and statement (Sid, index), and a fix. Also prints, per key, who can use it across accounts (decided by the policy engine, as `kmsdiag check` would). --json is --format json.

        Example:  kmsdiag audit --format md --out audit.md --grant-max-age-days 180
        """
        from diag.audit.context import AuditContext
        from diag.audit.matrix import compute_matrix
        from diag.audit.render import audit_document, render_markdown
        from diag.audit.runner import load_rules, run_rules
        from diag.files import write_private
        from diag.render.audit import render_table
        from diag.render.console import out, print_json, to_json

        st = state()
        fmt_l = "json" if st.json else fmt.lower()
        if fmt_l not in ("table", "json", "md"):
            raise UsageError(f"--format: table, json or md, not {fmt!r}")
        if grant_max_age_days < 0 or in_use_days < 0:
            raise UsageError("--grant-max-age-days and --in-use-days must be >= 0")
        known = {c.code for c in load_rules()} | {"audit-error"}
        unknown = sorted(set(code or ()) - known)
        if unknown:
            raise UsageError(f"unknown audit code(s): {', '.join(unknown)}", hint="known: " + ", ".join(sorted(known)))
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
        else:
            if out_file is not None:
                import io

                from rich.console import Console

                buf = io.StringIO()
                render_table(Console(file=buf, width=160, no_color=True), findings, mx, fixes)
                write_private(out_file, buf.getvalue())
            else:
                render_table(out(), findings, mx, fixes)
        return 0
