"""`kmsdiag report`: every KMS access failure of a window, grouped by cause, as HTML, Markdown or JSON."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from diag.cli.common import command, require_database, state
from diag.errors import EXIT_DENIED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from diag.report.model import Report
    from diag.report.window import Window

_EXTENSIONS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}


FORMATS = ("html", "md", "json")
FAIL_ON = ("none", "new", "any")


def default_out_name(day: str) -> str:
    return f"kmsdiag-report-{day}.html"


def choose_output(fmt: str | None, out: str | None, *, json_flag: bool, day: str) -> tuple[str, str]:
    """Decide (format, destination); destination ``-`` is stdout.

    --json (global) prints the JSON model on stdout. --out FILE picks the format from its extension unless
    --format is given. Without --out: HTML goes to ``kmsdiag-report-YYYY-MM-DD.html``, Markdown and JSON to
    stdout.
    """
    if json_flag:
        if fmt not in (None, "json"):
            raise UsageError("--json prints the JSON report on stdout; it cannot be combined with --format " + fmt)
        return "json", out or "-"
    if out and out != "-":
        chosen = fmt or _EXTENSIONS.get(Path(out).suffix.lower(), "html")
        return chosen, out
    chosen = fmt or ("md" if out == "-" else "html")
    if out == "-":
        return chosen, "-"
    return chosen, default_out_name(day) if chosen == "html" else "-"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # owner-only, like the database: a report quotes key and IAM policies and caller ARNs
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def _audit_note(model: "Report") -> str:
    """``; audit: 2 high, 3 medium, 1 low, 0 info`` for the one-line summary on stderr."""
    a = model.audit
    if a is None:
        return ""
    if a.status == "no_policies":
        return "; audit: no collected policies"
    if a.status != "ok":
        return "; audit: failed"
    counts = ", ".join(f"{n} {sev}" for sev, n in a.counts.items())
    return f"; audit: {counts}" + (f" ({len(a.errors)} audit errors)" if a.errors else "")


SinceOpt = Annotated[
    str,
    typer.Option(
        "--since",
        help="Window start: a duration before now (24h, 7d, 90m, 2w), an ISO 8601 time, or all (from the oldest event).",
    ),
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Window end (default now): a duration before now or an ISO time.")
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="html, md or json (default: from --out's extension, else html).",
        show_default=False,
    ),
]
OutOpt = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        help="Output file, or - for stdout (default: HTML to kmsdiag-report-YYYY-MM-DD.html).",
        show_default=False,
    ),
]
FailOnOpt = Annotated[
    str,
    typer.Option("--fail-on", help="none, new or any: exit 5 when there are new causes (new) or any failure (any)."),
]
RecordOpt = Annotated[
    bool,
    typer.Option(
        "--record/--no-record",
        help="Record this run so the next report can say what is new and resolved; --no-record opens the database read-only.",
    ),
]
AuditOpt = Annotated[
    bool,
    typer.Option(
        "--audit/--no-audit",
        help="Add the policy-audit section (kmsdiag audit's findings over the latest collected policies); --no-audit skips it.",
    ),
]
AuditMatrixOpt = Annotated[
    bool,
    typer.Option(
        "--audit-matrix",
        help="Also compute who can use each key (the engine's access matrix: slow on many roles): in full in JSON, summarized in HTML and Markdown.",
    ),
]


def _check_options(fmt: str | None, fail_on: str, *, audit: bool, audit_matrix: bool) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on {fail_on!r}: choose one of {', '.join(FAIL_ON)}")
    if audit_matrix and not audit:
        raise UsageError("--audit-matrix needs the audit section: drop --no-audit")


def _build(
    window: "Window",
    since: str,
    until: str | None,
    dest: str,
    chosen: str,
    *,
    record: bool,
    audit: bool,
    audit_matrix: bool,
) -> tuple["Report", str]:
    """(model, rendered text) of the window; with ``record`` the run is recorded in the database."""
    from diag.report import render
    from diag.report.build import build_report, record_run
    from diag.report.window import parse_window
    from diag.store import open_db, resolve_db_path

    st = state()
    db_path = resolve_db_path(st.db)
    require_database(db_path)
    con = open_db(db_path, read_only=not record, wait=st.wait)
    try:
        if not record:  # a reader does not refresh stored views: use this kmsdiag's, as TEMP views
            from diag.notebook import ensure_views

            ensure_views(con)
        if since.strip().lower() == "all":
            first = con.execute("SELECT min(event_time) FROM events").fetchall()[0][0]
            window = parse_window(since, until, first=first)
        model = build_report(con, window, database=str(db_path), audit=audit, audit_matrix=audit_matrix)
        text = render(model, chosen)
        if record:
            record_run(con, model, fmt=chosen, out_path=dest)
    finally:
        con.close()
    return model, text


def _say_written(dest: str, model: "Report") -> None:
    """The one-line summary on stderr after writing the report to a file."""
    from diag.render.console import err
    from diag.render.escape import safe_text
    from diag.report.fmt import count

    h = model.headline
    err().print(
        safe_text(
            f"wrote {dest}: {count(h.failures, 'failure')}, {count(h.causes, 'cause')} "
            f"({h.new_causes:,} new, {h.resolved_causes:,} resolved since the last report)" + _audit_note(model)
        ),
        soft_wrap=True,
    )


def report(
    since: SinceOpt = "24h",
    until: UntilOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    fail_on: FailOnOpt = "none",
    record: RecordOpt = True,
    audit: AuditOpt = True,
    audit_matrix: AuditMatrixOpt = False,
) -> int:
    """Report every KMS access failure of a window, grouped by cause, with what is new and what got fixed.

    Headline figures, failures over time by verdict, top keys and caller → key pairs, accounts, one section per cause (verdict + caller + key + action) with evidence and fix, policy changes, the policy audit (best-practice findings over the latest collected policies; --no-audit skips it) and data quality. Each run is recorded in the database (report_runs) so that the next one can say which causes are new and which were resolved since; --no-record leaves the database untouched. Without --out/--format: HTML to kmsdiag-report-YYYY-MM-DD.html, plus the Markdown summary on stdout when it is a terminal.

    Example:  kmsdiag report --since 24h --out /var/reports/kmsdiag.html --fail-on new
    """
    from diag.report import render
    from diag.report.window import parse_window

    st = state()
    _check_options(fmt, fail_on, audit=audit, audit_matrix=audit_matrix)
    window = parse_window(since, until)  # validate the options before touching the database
    chosen, dest = choose_output(fmt, out, json_flag=st.json, day=window.end.strftime("%Y-%m-%d"))
    model, text = _build(window, since, until, dest, chosen, record=record, audit=audit, audit_matrix=audit_matrix)
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write_atomically(Path(dest), text)
        if not st.quiet:
            _say_written(dest, model)
        if out is None and fmt is None and sys.stdout.isatty():
            sys.stdout.write(render(model, "md"))  # untrusted text is already inert (markdown.md_text)
    h = model.headline
    if fail_on == "new" and h.new_causes:
        return EXIT_DENIED
    if fail_on == "any" and h.failures:
        return EXIT_DENIED
    return EXIT_OK


def register(app: typer.Typer) -> None:
    command(app, "report")(report)
