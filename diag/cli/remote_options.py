"""Command-line options of the remote sources (shared by `kmsdiag ingest` and `kmsdiag watch`).

:func:`with_remote_options` appends the options to a command's signature (like ``@command`` does for
the global ones) and hands the command one :class:`~diag.ingest.remote.run.RemoteOptions` as ``remote``.
:func:`run_remote_ingest` is what `kmsdiag ingest s3://… / --lookup / --athena` runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from diag.ingest.remote.run import RemoteOptions

F = TypeVar("F", bound=Callable[..., Any])

_PARAMS: dict[str, tuple[Any, Any]] = {
    "lookup": (
        Annotated[
            bool,
            typer.Option(
                "--lookup",
                help="Read CloudTrail event history (LookupEvents, last 90 days) of the account and regions.",
            ),
        ],
        False,
    ),
    "athena": (
        Annotated[
            str | None,
            typer.Option(
                "--athena",
                metavar="DATABASE.TABLE",
                help="Query this Athena CloudTrail table (see `kmsdiag athena-ddl`); only kept events come back.",
            ),
        ],
        None,
    ),
    "since": (
        Annotated[
            str | None,
            typer.Option("--since", help="Start of the window: 24h, 7d, 90d or an ISO time (UTC).", show_default=False),
        ],
        None,
    ),
    "until": (
        Annotated[str | None, typer.Option("--until", help="End of the window (default: now).", show_default=False)],
        None,
    ),
    "account": (
        Annotated[
            list[str] | None,
            typer.Option("--account", help="Only this account (repeat for several).", show_default=False),
        ],
        None,
    ),
    "region": (
        Annotated[
            list[str] | None,
            typer.Option("--region", help="Only this region (repeat for several).", show_default=False),
        ],
        None,
    ),
    "key": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--key", help="Athena: keep successful KMS calls only for this key ARN (failures are always kept)."
            ),
        ],
        None,
    ),
    "athena_workgroup": (
        Annotated[str | None, typer.Option("--athena-workgroup", help="Athena workgroup (default: primary).")],
        None,
    ),
    "athena_output": (
        Annotated[
            str | None,
            typer.Option("--athena-output", help="s3:// folder for Athena results (if the workgroup sets none)."),
        ],
        None,
    ),
    "concurrency": (
        Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Parallel S3 downloads.")],
        8,
    ),
    "config": (
        Annotated[
            str | None,
            typer.Option(
                "--config",
                help="kmsdiag.toml: the accounts (profile or role) --lookup reads (default: ./kmsdiag.toml).",
            ),
        ],
        None,
    ),
    "profile": (
        Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the standard credential chain).")],
        None,
    ),
    "role_arn": (
        Annotated[
            str | None,
            typer.Option("--role-arn", help="Role to assume first, e.g. a reader role in the log-archive account."),
        ],
        None,
    ),
}


def build_options(values: dict[str, Any], s3_uris: list[str], *, progress: bool) -> RemoteOptions:
    """Parse the raw option values (times, lists) into RemoteOptions."""
    from diag.ingest.remote.run import RemoteOptions
    from diag.ingest.remote.timeparse import parse_when, utcnow

    now = utcnow()
    return RemoteOptions(
        s3_uris=s3_uris,
        lookup=bool(values.get("lookup")),
        athena_table=values.get("athena"),
        since=parse_when(values["since"], now=now) if values.get("since") else None,
        until=parse_when(values["until"], now=now) if values.get("until") else None,
        accounts=tuple(values.get("account") or ()),
        regions=tuple(values.get("region") or ()),
        key_arns=tuple(values.get("key") or ()),
        athena_workgroup=values.get("athena_workgroup"),
        athena_output=values.get("athena_output"),
        workers=int(values.get("concurrency") or 8),
        profile=values.get("profile"),
        role_arn=values.get("role_arn"),
        config=values.get("config"),
        progress=progress,
    )


def with_remote_options(fn: F) -> F:
    """Append the remote-source options to ``fn``'s signature; ``fn`` receives them as ``remote_values``."""
    # eval_str: resolve the command's own annotations (modules use `from __future__ import annotations`)
    # so that typer sees their Annotated[...] metadata through the wrappers.
    sig = inspect.signature(fn, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "remote_values"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
        for name, (ann, default) in _PARAMS.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        values = {k: kw.pop(k) for k in list(kw) if k in _PARAMS}
        return fn(*args, remote_values=values, **kw)

    wrapper.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def run_remote_ingest(values: dict[str, Any], s3_uris: list[str], *, workers: int | None) -> int:
    """`kmsdiag ingest` for s3:// URIs, --lookup and --athena: stream into the database, print a summary."""
    from diag.cli.common import open_writer, state
    from diag.ingest.remote.blob import default_ingester
    from diag.ingest.remote.run import ingest_remote
    from diag.render.console import err, print_json

    st = state()
    opts = build_options(values, s3_uris, progress=not st.quiet and not st.json and err().is_terminal)
    con = open_writer()
    try:
        summaries = ingest_remote(con, opts, ingester=default_ingester(workers=workers))
        from diag.cli.cmd_ingest import refresh_policy_history

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


def render_remote(summaries: list[dict[str, Any]]) -> None:
    """One line per source, then the ingest counts and refused inputs (escaped)."""
    from rich.text import Text

    from diag.render.console import out
    from diag.render.escape import safe_text

    console = out()
    for s in summaries:
        kind = s.get("source")
        if kind == "s3":
            head = (
                f"{s['uri']}: {s['prefixes_listed']:,} prefixes listed, {s['objects_seen']:,} objects seen, "
                f"{s['objects_fetched']:,} fetched ({s['bytes_fetched'] / 1e6:.1f} MB), "
                f"{s['skipped_known']:,} already ingested, {s['skipped_outside_window']:,} outside the window"
                + (f", {len(s['refused_unchanged']):,} refused earlier" if s.get("refused_unchanged") else "")
            )
        elif kind == "lookup":
            head = (
                f"LookupEvents: {s['queries']:,} queries, {s['requests']:,} requests ({s['retries']:,} retried), "
                f"{s['pages']:,} pages, {s['events_seen']:,} events"
            )
        else:
            head = (
                f"Athena {s['query_execution_id']}: {s['state']}, {s['bytes_scanned'] / 1e6:.1f} MB scanned, "
                f"{s['rows']:,} rows ({s['window_start']} to {s['window_end']})"
            )
        console.print(safe_text(head))
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
