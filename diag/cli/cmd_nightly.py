"""`kmsdiag nightly`: ingest → collect → diagnose → report under one exclusive run lock."""

# no `from __future__ import annotations`: typer reads these annotations at runtime through @command

from pathlib import Path
from typing import Annotated, Any

import typer

from diag.cli.common import command, state


def register(app: typer.Typer) -> None:
    @command(app, "nightly")
    def nightly(
        sources: Annotated[
            list[str] | None,
            typer.Argument(help="CloudTrail files or folders, or s3://bucket/prefix, to ingest first."),
        ] = None,
        from_dir: Annotated[
            Path | None, typer.Option("--from-dir", help="Collect from this evidence bundle instead of live AWS.")
        ] = None,
        collect: Annotated[
            bool, typer.Option("--collect/--no-collect", help="Take a policy snapshot (live, or --from-dir).")
        ] = True,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", help="kmsdiag.toml for live collection (default: $KMSDIAG_CONFIG, ./kmsdiag.toml)."
            ),
        ] = None,
        since: Annotated[str, typer.Option("--since", help="Report window: 24h, 7d, or an ISO time.")] = "24h",
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", "-o", help="Report file (.html, .md or .json); without it no report file is written."
            ),
        ] = None,
        fmt: Annotated[
            str | None, typer.Option("--format", "-f", help="html, md or json (default: from --out's extension).")
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", help="Ingest parser processes (default: one per core).")
        ] = None,
    ) -> int:
        """Run the whole nightly pipeline: ingest the given sources, collect, diagnose, write the report.

        Holds an exclusive lock on `<db>.lock` for the whole run: a second run started meanwhile exits at
        once with code 4 and names the PID of the run in progress (or waits with --wait SECONDS). A run
        killed half-way leaves a consistent database; the next run completes the work.

        Example:  kmsdiag nightly /var/log/cloudtrail/ --from-dir ./bundle --out /var/reports/kmsdiag.html --json
        """
        from diag.nightly import NightlyOptions, all_inputs_refused, run_nightly
        from diag.render.progress import collect_progress
        from diag.store import resolve_db_path

        st = state()
        with collect_progress(not (st.quiet or st.json)) as progress:
            opts = NightlyOptions(
                sources=list(sources or []),
                from_dir=from_dir,
                collect=collect,
                config=config,
                since=since,
                report_out=out,
                report_format=fmt,
                workers=workers,
                progress=progress,
            )
            summary = run_nightly(resolve_db_path(st.db), opts, wait=st.wait)
        if st.json:
            from diag.render.console import print_json

            print_json(summary)
        elif not st.quiet:
            _print_summary(summary)
        if all_inputs_refused(summary):
            from diag.errors import EXIT_BAD_INPUT
            from diag.render.console import err

            if not st.json:
                err().print("every input was refused: nothing new was ingested (see the reasons above)")
            return EXIT_BAD_INPUT
        return 0


def _print_summary(s: dict[str, Any]) -> None:
    from diag.render.console import out
    from diag.render.escape import safe_text

    console = out()
    for kind, ing in (s.get("ingest") or {}).items():
        if kind == "local":
            console.print(
                safe_text(
                    f"ingest: {ing['files_ingested']:,} files ingested, {ing['files_unchanged']:,} unchanged, "
                    f"{ing['files_refused']:,} refused; {ing['events_stored']:,} events stored"
                )
            )
            for r in ing["refused"][:20]:
                console.print(safe_text(f"  refused: {r['file']}: {r['reason']}"))
        else:
            console.print(safe_text(f"ingest: {len(ing)} remote source(s) read"))
    c = s.get("collect")
    if c:
        console.print(safe_text(f"collect: snapshot {c['snapshot_id']} ({c['source']}), {c['gaps']} gap(s)"))
        for note in c.get("refused") or []:
            console.print(safe_text(f"  refused: {note}"))
    d = s["diagnose"]
    console.print(safe_text(f"diagnose: {d['failures']:,} failures, {d['decision_keys']:,} decision keys"))
    r = s["report"]
    where = f", written to {r['out']}" if r.get("out") else ""
    console.print(
        safe_text(
            f"report: {r['failures']:,} failures, {r['causes']:,} causes ({r['new_causes']:,} new, "
            f"{r['resolved_causes']:,} resolved){where}"
        )
    )
    console.print(safe_text(f"done in {s['seconds']:.1f} s"))
