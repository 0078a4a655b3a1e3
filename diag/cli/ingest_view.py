"""What `kmsdiag ingest` shows: the summaries (every file name and reason escaped) and the progress bars
drawn from the ingest's progress callbacks (the ingest package itself draws nothing)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diag.ingest import IngestSummary, Progress
    from diag.ingest.summary import FetchProgress, FetchProgressFn, ProgressFn

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


def _remote_head(s: dict[str, Any]) -> str:
    kind = s.get("source")
    if kind == "s3":
        return (
            f"{s['uri']}: {s['prefixes_listed']:,} prefixes listed, {s['objects_seen']:,} objects seen, "
            f"{s['objects_fetched']:,} fetched ({s['bytes_fetched'] / 1e6:.1f} MB), "
            f"{s['skipped_known']:,} already ingested, {s['skipped_outside_window']:,} outside the window"
            + (f", {len(s['refused_unchanged']):,} refused earlier" if s.get("refused_unchanged") else "")
        )
    if kind == "lookup":
        return (
            f"LookupEvents: {s['queries']:,} queries, {s['requests']:,} requests ({s['retries']:,} retried), "
            f"{s['pages']:,} pages, {s['events_seen']:,} events"
        )
    return (
        f"Athena {s['query_execution_id']}: {s['state']}, {s['bytes_scanned'] / 1e6:.1f} MB scanned, "
        f"{s['rows']:,} rows ({s['window_start']} to {s['window_end']})"
    )


def render_remote(summaries: list[dict[str, Any]]) -> None:
    """One line per source, then the ingest counts and refused inputs (escaped)."""
    from rich.text import Text

    from diag.render.console import out
    from diag.render.escape import safe_text

    console = out()
    for s in summaries:
        console.print(safe_text(_remote_head(s)))
        ing = s.get("ingest") or {}
        if ing:
            console.print(
                f"  events: {ing.get('events_read', 0):,} read, {ing.get('events_stored', 0):,} stored, "
                f"{ing.get('events_skipped', 0):,} skipped (other services), {ing.get('duplicates', 0):,} duplicates; "
                f"{ing.get('files_refused', 0):,} inputs refused"
            )
        problems = [(r["file"], r["reason"]) for r in ing.get("refused", [])]
        problems += [(r["file"], f"{r['reason']} (refused earlier, unchanged)") for r in s.get("refused_unchanged", [])]
        problems += [(e["path"], e["error"]) for e in s.get("fetch_errors", [])]
        problems += [(f"{g['account']}/{g['region']}/{g['event_source']}", g["error"]) for g in s.get("gaps", [])]
        for name, reason in problems[:20]:
            line = Text("  not read: ", style="bold red")
            line.append_text(safe_text(name))
            line.append(": ")
            line.append_text(safe_text(reason))
            console.print(line, soft_wrap=True)


@contextmanager
def files_bar(enabled: bool) -> Iterator[ProgressFn | None]:
    """A progress bar on stderr for a local ingest (files, events read and stored), fed by the ingest's
    ``progress`` callback; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from diag.render.console import err

    with Bar(
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[events]:,} events read · {task.fields[stored]:,} stored"),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None, events=0, stored=0)

        def update(p: Progress) -> None:
            bar.update(task, completed=p.files_done, total=p.files_total, events=p.events_read, stored=p.events_stored)

        yield update


@contextmanager
def fetch_bar(enabled: bool) -> Iterator[FetchProgressFn | None]:
    """A progress bar on stderr (objects and bytes) per remote source that downloads objects, started at
    the first download and fed by the source's ``progress`` callback; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn
    from rich.progress import Progress as Bar

    from diag.render.console import err

    bar: Any = None
    tasks: dict[str, Any] = {}

    def update(p: FetchProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[objects]}"),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=err(),
                transient=True,
            )
            bar.start()
        objects = f"{p.objects_done}/{p.objects_total}"
        if p.source not in tasks:
            tasks[p.source] = bar.add_task("S3 objects", total=p.bytes_total, objects=objects)
        bar.update(tasks[p.source], completed=p.bytes_done, objects=objects)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
