"""`kmsdiag ingest PATH...`: CloudTrail files and folders into the database."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diag.cli.common import command, open_writer, state
from diag.cli.remote_options import run_remote_ingest, with_remote_options

if TYPE_CHECKING:
    from diag.ingest import IngestSummary

MAX_REFUSED_SHOWN = 20


def render_summary(summary: IngestSummary) -> None:
    """Print the human summary on stdout; every file name and reason is escaped."""
    from rich.text import Text

    from diag.render.console import out
    from diag.render.escape import safe_text

    s = summary
    console = out()
    console.print(
        f"files: {s.files_seen:,} seen, {s.files_ingested:,} ingested, {s.files_unchanged:,} unchanged "
        f"(already ingested), {s.digests:,} digest, {len(s.refused):,} refused"
    )
    console.print(
        f"events: {s.events_read:,} read, {s.events_stored:,} stored, {s.events_skipped:,} skipped "
        f"(other services), {s.duplicates:,} duplicates, in {s.seconds:.1f} s"
    )
    for name, reason in s.refused[:MAX_REFUSED_SHOWN]:
        line = Text("refused: ", style="bold red")
        line.append_text(safe_text(name))
        line.append(": ")
        line.append_text(safe_text(reason))
        console.print(line, soft_wrap=True)
    if len(s.refused) > MAX_REFUSED_SHOWN:
        console.print(f"… and {len(s.refused) - MAX_REFUSED_SHOWN:,} more refused (use --json for all)")
    if s.bundles_skipped:
        n = len(s.bundles_skipped)
        line = Text(f"skipped {n:,} evidence bundle folder{'s' if n != 1 else ''} (policies, not CloudTrail; ")
        line.append_text(safe_text(f"load with `kmsdiag collect --from-dir {shlex.quote(str(s.bundles_skipped[0]))}`"))
        line.append("): " if n > 1 else ")")
        if n > 1:
            line.append_text(safe_text(", ".join(s.bundles_skipped[:3]) + (", …" if n > 3 else "")))
        console.print(line, soft_wrap=True)


def refresh_policy_history(con: Any) -> None:
    """Turn stored policy-change events that have no ``policy_changes`` row yet into rows (incremental), so
    that `kmsdiag explain` (a read-only reader) sees the policies as of each failure without a new collect.

    Run at the end of every ingest, also one that stored nothing: what a run killed after its last commit
    did not derive is derived by the next one."""
    from diag.collect.history import build_policy_changes

    build_policy_changes(con)


def register(app: typer.Typer) -> None:
    @command(app, "ingest")
    @with_remote_options  # remote sources (s3://, --lookup, --athena): diag/cli/remote_options.py
    def ingest(
        paths: Annotated[
            list[str] | None,
            typer.Argument(
                help="CloudTrail files or folders (recursive; .json, .jsonl, .ndjson, also .gz), or s3://bucket/prefix."
            ),
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", help="Parser processes (default: one per core).")
        ] = None,
        remote_values: dict[str, Any] | None = None,
    ) -> int:
        """Read CloudTrail files and folders into the database (KMS, S3, policy and identity events).

        Accepts CloudTrail log files, single records, JSON Lines, EventBridge envelopes and
        `aws cloudtrail lookup-events` output, gzip or plain. Files already ingested are skipped; an
        invalid file is refused with its reason and the others go on. Exit code 3 when every input was bad.

        Example:  kmsdiag ingest ./AWSLogs/ --db incident.duckdb
        """
        from diag.errors import EXIT_BAD_INPUT, UsageError
        from diag.ingest import ingest_paths
        from diag.render.console import err, print_json

        # remote sources: s3:// URIs, --lookup, --athena (see docs/remote-ingest.md)
        s3_uris = [p for p in paths or [] if p.startswith("s3://")]
        local = [Path(p) for p in paths or [] if not p.startswith("s3://")]
        values = remote_values or {}
        if s3_uris or values.get("lookup") or values.get("athena"):
            if local:
                raise UsageError("ingest local files and remote sources (s3://, --lookup, --athena) in separate runs")
            return run_remote_ingest(values, s3_uris, workers=workers)
        if not local:
            raise UsageError("nothing to ingest: give files or folders, s3://bucket/prefix, --lookup or --athena")
        if any(values.get(k) for k in ("since", "until", "account", "region", "key")):
            raise UsageError("--since/--until/--account/--region/--key apply to s3://, --lookup and --athena only")
        missing = [str(p) for p in local if not p.exists()]
        if len(missing) == len(local):  # nothing to read: a typo must not create an empty database
            from diag.errors import BadInputError

            raise BadInputError(
                "no such file or folder: " + ", ".join(missing) + " (nothing was ingested)",
                hint="give CloudTrail files or folders that exist (e.g. ./AWSLogs/), or s3://bucket/prefix",
            )
        st = state()
        con = open_writer()
        try:
            show_bar = not st.quiet and not st.json and err().is_terminal
            summary = _with_progress(con, local, workers) if show_bar else ingest_paths(con, local, workers=workers)
            # Always, even when nothing new was stored: a run killed after its last commit left events
            # whose policy history was not derived yet, and this run must complete it.
            refresh_policy_history(con)
        finally:
            con.close()
        if st.json:
            print_json(summary.to_dict())
        elif not st.quiet or summary.refused:
            render_summary(summary)
        return EXIT_BAD_INPUT if summary.all_bad else 0


def _with_progress(con: object, paths: list[Path], workers: int | None) -> IngestSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from diag.ingest import Progress as Step
    from diag.ingest import ingest_paths
    from diag.render.console import err

    with Progress(
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[events]:,} events read · {task.fields[stored]:,} stored"),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, events=0, stored=0)

        def update(p: Step) -> None:
            bar.update(task, completed=p.files_done, total=p.files_total, events=p.events_read, stored=p.events_stored)

        return ingest_paths(con, paths, progress=update, workers=workers)  # type: ignore[arg-type]
