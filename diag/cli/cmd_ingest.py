"""`kmsdiag ingest`: CloudTrail files and folders, or remote sources (s3://, --lookup, --athena), into the
database. What it prints is in :mod:`diag.cli.ingest_view`; the ingest itself in :mod:`diag.ingest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from diag.cli.common import command, open_writer, state
from diag.cli.remote_options import with_remote_options


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
        from diag.errors import UsageError

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
        return _ingest_local(local, workers)


def _ingest_local(local: list[Path], workers: int | None) -> int:
    """`kmsdiag ingest PATH...`: files and folders into the database, a progress bar on a terminal."""
    from diag.cli.ingest_view import files_bar, render_summary
    from diag.errors import EXIT_BAD_INPUT
    from diag.ingest import ingest_paths
    from diag.render.console import err, print_json

    st = state()
    con = open_writer()
    try:
        with files_bar(not st.quiet and not st.json and err().is_terminal) as bar:
            summary = ingest_paths(con, local, progress=bar, workers=workers)
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


def run_remote_ingest(values: dict[str, Any], s3_uris: list[str], *, workers: int | None) -> int:
    """`kmsdiag ingest` for s3:// URIs, --lookup and --athena: stream into the database, print a summary."""
    from diag.cli.ingest_view import fetch_bar, render_remote
    from diag.ingest.pulls import ingest_remote
    from diag.ingest.remote.blob import default_ingester
    from diag.ingest.remote.options import options_from_values
    from diag.render.console import err, print_json

    st = state()
    with fetch_bar(not st.quiet and not st.json and err().is_terminal) as bar:
        opts = options_from_values(values, s3_uris, progress=bar)  # a bad --since fails before the database opens
        con = open_writer()
        try:
            summaries = ingest_remote(con, opts, ingester=default_ingester(workers=workers))
            refresh_policy_history(con)
        finally:
            con.close()
    if st.json:
        print_json({"sources": summaries})
    elif not st.quiet:
        render_remote(summaries)
    return exit_code(summaries)


def exit_code(summaries: list[dict[str, Any]]) -> int:
    """4 when AWS refused everything a source tried to read (every download, every LookupEvents query);
    3 when every input in scope is bad (refused now, or refused earlier and unchanged) and none is stored;
    else 0: refusals next to good inputs (new or already ingested) are reported, not fatal."""
    from diag.errors import EXIT_BAD_INPUT, EXIT_REFUSED

    for s in summaries:
        if s.get("fetch_errors") and not s.get("objects_fetched"):
            return EXIT_REFUSED
        if s.get("gaps") and len(s["gaps"]) == s.get("queries"):
            return EXIT_REFUSED
    seen = refused = 0
    for s in summaries:
        ing = s.get("ingest") or {}
        still = len(s.get("refused_unchanged") or [])
        seen += int(ing.get("files_seen", 0)) + int(s.get("skipped_known", 0)) + still
        refused += int(ing.get("files_refused", 0)) + still
    return EXIT_BAD_INPUT if seen and refused == seen else 0
