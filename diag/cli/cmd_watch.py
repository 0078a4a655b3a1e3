"""`kmsdiag watch`: pull new events, ingest, diagnose new failures, print one JSON line per diagnosis."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from diag.cli.common import command, state
from diag.cli.remote_options import with_remote_options


def register(app: typer.Typer) -> None:
    @command(app, "watch")
    @with_remote_options
    def watch(
        s3_uris: Annotated[
            list[str] | None, typer.Argument(help="Trail buckets to follow: s3://bucket/prefix.", show_default=False)
        ] = None,
        interval: Annotated[str, typer.Option("--interval", help="Time between cycles: 30s, 5m, 1h.")] = "5m",
        webhook: Annotated[
            str | None, typer.Option("--webhook", help="Also POST each diagnosis (JSON) to this http(s) URL.")
        ] = None,
        cycles: Annotated[
            int | None,
            typer.Option("--cycles", min=1, help="Stop after this many cycles (default: run until stopped)."),
        ] = None,
        remote_values: dict[str, Any] | None = None,
    ) -> int:
        """Follow the sources and print each new diagnosis as one JSON line on stdout, until stopped.

        Every cycle pulls what is new (trail buckets by ETag, LookupEvents and Athena from their
        watermarks), ingests it, diagnoses the failures that have no diagnosis yet and prints each new
        diagnosis once (`--webhook` also POSTs it). SIGTERM or Ctrl-C stops cleanly after the current
        cycle. The database is held only while writing: between cycles a notebook can read it
        (`duckdb.connect(path, read_only=True)`). `--since` sets how far back the first cycle reads
        (default 24h).

        Example:  kmsdiag watch s3://org-trail-logs --lookup --interval 5m --webhook https://hooks.example.com/kms
        """
        import sys
        import threading

        from diag.errors import UsageError
        from diag.ingest.pulls import WatchPlanner
        from diag.ingest.remote.blob import default_ingester
        from diag.ingest.remote.timeparse import parse_duration
        from diag.render.console import err
        from diag.store import resolve_db_path
        from diag.watch import StopOnSignals, Watcher, resolve_diagnose

        st = state()
        uris = list(s3_uris or [])
        bad = [u for u in uris if not u.startswith("s3://")]
        if bad:
            raise UsageError(f"watch follows s3:// trail buckets, --lookup and --athena; not {bad[0]!r}")
        opts = _options(remote_values or {}, uris)
        if not opts.any:
            raise UsageError("nothing to watch: give s3://bucket/prefix, --lookup or --athena")
        seconds = parse_duration(interval)
        if seconds < 1:
            raise UsageError("--interval must be at least 1s")
        diagnose = resolve_diagnose()

        def log(message: str) -> None:
            if not st.quiet:
                from diag.render.escape import safe_text

                err().print(safe_text(message), soft_wrap=True)

        stop = threading.Event()
        watcher = Watcher(
            resolve_db_path(st.db),
            WatchPlanner(opts),
            ingester=default_ingester(),
            diagnose=diagnose,
            interval=seconds,
            webhook=webhook,
            out=sys.stdout,
            log=log,
            lock_wait=max(st.wait, 10.0),
            stop=stop,
        )
        with StopOnSignals(stop):
            emitted = watcher.run(max_cycles=cycles)
        log(f"watch: stopped after {watcher.cycles} cycles, {emitted} diagnoses emitted")
        return 0


def _options(values: dict[str, Any], uris: list[str]) -> Any:
    from diag.ingest.remote.options import options_from_values

    return options_from_values(values, uris)
