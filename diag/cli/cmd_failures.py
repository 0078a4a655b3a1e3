"""`kmsdiag failures`: list failed calls with their full event IDs, to pick one for `kmsdiag explain`."""

# no `from __future__ import annotations`: typer reads these annotations at runtime
from typing import Annotated, Any

import typer

from diag.cli.common import command, open_reader, state


def register(app: typer.Typer) -> None:
    @command(app, "failures")
    def failures(
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                metavar="WHEN",
                help="Only failures at or after WHEN: a duration before now (90m, 24h, 7d) or an ISO time.",
                show_default=False,
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option("--until", metavar="WHEN", help="Only failures before WHEN (same forms).", show_default=False),
        ] = None,
        verdict: Annotated[
            list[str] | None,
            typer.Option(
                "--verdict",
                metavar="CODE",
                help="Only this verdict (repeatable); NOT_DIAGNOSED for failures not diagnosed yet.",
                show_default=False,
            ),
        ] = None,
        caller: Annotated[
            str | None,
            typer.Option(
                "--caller",
                metavar="TEXT",
                help="Only callers whose ARN contains TEXT (e.g. a role name).",
                show_default=False,
            ),
        ] = None,
        key: Annotated[
            str | None,
            typer.Option(
                "--key",
                metavar="TEXT",
                help="Only keys (ARN, ID, alias) or buckets containing TEXT.",
                show_default=False,
            ),
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", metavar="N", min=1, help="Show at most N failures (newest first).")
        ] = 50,
    ) -> None:
        """List failed KMS (and SSE-KMS S3) calls, newest first: time, caller, action, key or bucket, error,
        verdict when diagnosed, and the full event ID to pass to `kmsdiag explain`.

        Reads the database only. Failures not diagnosed yet show NOT_DIAGNOSED: run `kmsdiag diagnose`.

        Example:  kmsdiag failures --since 24h --caller DataProcessingRole --verdict KEY_POLICY_NO_PRINCIPAL
        """
        from diag.diagnosis.failed_calls import FailureFilter, list_failures
        from diag.ingest.remote.timeparse import parse_when

        flt = FailureFilter(
            since=parse_when(since) if since else None,
            until=parse_when(until) if until else None,
            verdicts=list(verdict or []),
            caller=caller,
            key=key,
            limit=limit,
        )
        con = open_reader()
        try:
            rows, total = list_failures(con, flt)
        finally:
            con.close()
        if state().json:
            from diag.render.console import print_json

            print_json({"total": total, "shown": len(rows), "failures": rows})
            return
        from diag.render.console import out

        render_failures(out(), rows, total)


def render_failures(console: Any, rows: list[dict[str, Any]], total: int) -> None:
    """One block per failure; identifiers on lines of their own, printed whole at any width."""
    from diag.arn import bucket_arn, partition_for_region
    from diag.render.escape import safe_text

    if not rows:
        console.print(safe_text("no failed calls match (kmsdiag ingest adds CloudTrail; drop a filter to see more)"))
        return
    more = f" (newest {len(rows):,} of {total:,}; --limit N shows more)" if total > len(rows) else ""
    console.print(safe_text(f"{total:,} failed call(s){more}", style="bold"))
    for r in rows:
        when = r["event_time"].strftime("%Y-%m-%d %H:%M:%S") if r["event_time"] else "?"
        verdict = r["verdict"] or "NOT_DIAGNOSED"
        head = safe_text(f"{when}  ", style="dim")
        head.append_text(safe_text(f"{r['action']}  {r['error_code'] or ''}  "))
        head.append_text(safe_text(verdict, style="green" if verdict == "RESOLVED_SINCE" else "bold red"))
        console.print()
        console.print(head, soft_wrap=True)
        console.print(safe_text(f"  event  {r['event_id']}", style="cyan"), soft_wrap=True)
        caller = _caller(r)
        console.print(safe_text(f"  caller {caller}"), soft_wrap=True)
        target = r["key_ref"] or (
            bucket_arn(r["bucket"], partition_for_region(r["aws_region"])) if r["bucket"] else "?"
        )
        cross = " (cross-account)" if r["cross_account"] else ""
        console.print(safe_text(f"  key    {target}{cross}"), soft_wrap=True)
    console.print()
    console.print(safe_text("explain one: kmsdiag explain EVENT_ID (a unique prefix is enough)", style="dim"))


def _caller(row: dict[str, Any]) -> str:
    """Who called, in words: the principal or ARN, the AWS service, or what CloudTrail recorded instead."""
    if row.get("caller_principal") or row.get("caller_arn"):
        return str(row.get("caller_principal") or row.get("caller_arn"))
    if row.get("invoked_by"):
        return f"the AWS service {row['invoked_by']}"
    kind = row.get("caller_type")
    return f"not recorded by CloudTrail (userIdentity type {kind})" if kind else "not recorded by CloudTrail"
