"""`kmsdiag demo`: build a fresh database from the bundled sample trails and show what kmsdiag finds.

It ingests every scenario's ``trails/`` folder of ``sample_trails/`` (DESIGN.md section 8), loads every
scenario's ``bundle/`` as a snapshot (as ``collect --from-dir`` does), diagnoses every failure, prints
what was stored, the failures by verdict and a few explanations, and ends with the commands to go further.
"""

# no `from __future__ import annotations`: typer reads the command's annotations at runtime

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diag.cli.common import command, state

if TYPE_CHECKING:
    import duckdb

    from diag.ingest import IngestSummary

DEMO_DB = "kmsdiag-demo.duckdb"
MAX_FAILURES_SHOWN = 25


@dataclass
class DemoResult:
    """What the demo built: the database, the ingest summary, and what the database holds."""

    db: Path
    scenarios: list[str]
    ingest: "IngestSummary"
    events_by_source: list[tuple[str | None, int]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    cross_account_calls: int = 0
    snapshots: int = 0
    diagnosis: dict[str, Any] = field(default_factory=dict)  # the `kmsdiag diagnose` summary
    examples: list[dict[str, str]] = field(default_factory=list)  # events worth explaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "scenarios": self.scenarios,
            "ingest": self.ingest.to_dict(),
            "events_by_source": [{"event_source": s, "events": n} for s, n in self.events_by_source],
            "calls": self.calls,
            "cross_account_calls": self.cross_account_calls,
            "failures": self.failures,
            "snapshots": self.snapshots,
            "diagnosis": self.diagnosis,
            "examples": self.examples,
        }


def scenario_trails(root: Path) -> list[tuple[str, Path]]:
    """``(scenario, trails folder)`` for every ``<root>/<scenario>/trails/``, sorted by name."""
    return sorted((p.name, p / "trails") for p in root.iterdir() if (p / "trails").is_dir())


DEMO_MARKER = "kmsdiag_demo"


def _is_demo_database(path: Path) -> bool:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [DEMO_MARKER]).fetchone()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return bool(row and row[0] == "true")


def fresh_database(path: Path) -> "duckdb.DuckDBPyConnection":
    """Replace a previous demo database (never any other database) with a new, empty one."""
    from diag.errors import UsageError
    from diag.store import open_db

    if path.exists():
        if not _is_demo_database(path):
            raise UsageError(
                f"{path} exists and is not a kmsdiag demo database; the demo will not overwrite it",
                hint="pass another --db path, or remove the file yourself",
            )
        for candidate in (path, Path(str(path) + ".wal")):
            candidate.unlink(missing_ok=True)
    con = open_db(path, wait=state().wait)
    con.execute("INSERT INTO meta VALUES (?, 'true') ON CONFLICT (key) DO UPDATE SET value = 'true'", [DEMO_MARKER])
    return con


def run_demo(db: Path | None = None, *, sample_root: Path | None = None) -> DemoResult:
    """Build the demo database from ``sample_root`` (default: the bundled ``sample_trails/``)."""
    from diag.errors import NotFoundError
    from diag.ingest import ingest_paths
    from diag.resources import sample_trails_dir

    if sample_root is None:
        try:
            sample_root = sample_trails_dir()
        except FileNotFoundError as exc:
            raise NotFoundError("the bundled sample_trails/ folder is missing (broken installation?)") from exc
    scenarios = scenario_trails(sample_root)
    if not scenarios:
        raise NotFoundError(f"no scenario with a trails/ folder under {sample_root}")
    path = db or Path(DEMO_DB)
    con = fresh_database(path)
    try:
        summary = ingest_paths(con, [trails for _, trails in scenarios])
        result = DemoResult(db=path, scenarios=[name for name, _ in scenarios], ingest=summary)
        result.events_by_source = [
            (r[0], int(r[1]))
            for r in con.execute("SELECT event_source, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        ]
        row = con.execute("SELECT count(*), count(*) FILTER (WHERE copies > 1) FROM calls").fetchone()
        result.calls, result.cross_account_calls = (int(row[0]), int(row[1])) if row else (0, 0)
        cur = con.execute(
            "SELECT event_id, event_time, event_name, error_code, caller_arn, caller_account, key_arn,"
            " coalesce(key_arn, key_id_given) AS key, aws_region FROM events"
            " WHERE error_code IS NOT NULL ORDER BY event_time, event_id"
        )
        names = [d[0] for d in cur.description]
        result.failures = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        from diag.diagnosis.demo import collect_and_diagnose, pick_examples

        bundles = [sample_root / name / "bundle" for name, _ in scenarios]
        result.snapshots, result.diagnosis = collect_and_diagnose(con, [b for b in bundles if b.is_dir()])
        result.examples = pick_examples(con)
        verdicts = dict(con.execute("SELECT event_id, verdict FROM diagnoses_latest").fetchall())
        for failure in result.failures:
            failure["verdict"] = verdicts.get(failure["event_id"])
    finally:
        con.close()
    return result


def render_demo(result: DemoResult, explain_count: int = 2) -> None:
    """Print what the demo stored; every CloudTrail-sourced string is escaped."""
    from rich.table import Table

    from diag.cli.ingest_view import render_summary
    from diag.render.console import out
    from diag.render.escape import safe_text

    console = out()
    console.print(f"kmsdiag demo: {len(result.scenarios)} scenario(s) from the bundled sample trails")
    render_summary(result.ingest)
    by_source = ", ".join(f"{s or '?'} {n:,}" for s, n in result.events_by_source) or "none"
    console.print(safe_text(f"stored events by source: {by_source}"))
    console.print(f"calls: {result.calls:,} ({result.cross_account_calls:,} cross-account, logged in both accounts)")
    if result.failures:
        from diag.render.tables import print_table

        table = Table(title=f"failed calls ({len(result.failures):,})", title_justify="left", show_edge=False)
        table.add_column("eventID", no_wrap=True)  # identifiers: printed whole, pasteable into `explain`
        table.add_column("verdict", no_wrap=True)
        table.add_column("call")  # prose: folds on a narrow terminal
        for f in result.failures[:MAX_FAILURES_SHOWN]:
            when = f["event_time"].strftime("%Y-%m-%d %H:%M") if f["event_time"] else "?"
            table.add_row(
                safe_text(f["event_id"]),
                safe_text(f.get("verdict") or "-"),
                safe_text(f"{f['event_name']} {f['error_code'] or ''} at {when}"),
            )
        print_table(console, table)
        if len(result.failures) > MAX_FAILURES_SHOWN:
            console.print(f"… and {len(result.failures) - MAX_FAILURES_SHOWN:,} more (use --json)")
    from diag.cli.demo_view import render_diagnosis_part

    render_diagnosis_part(console, result.db, result.snapshots, result.diagnosis, result.examples[:explain_count])


def register(app: typer.Typer) -> None:
    @command(app, "demo")
    def demo(
        explain_count: Annotated[
            int, typer.Option("--explain", help="How many representative failures to explain.")
        ] = 2,
    ) -> None:
        """Build a fresh demo database from the bundled sample trails, diagnose every failure, and show it.

        Ingests every scenario's trails, loads every scenario's evidence bundle (as collect --from-dir),
        runs diagnose, prints the failures by verdict and explains a few. Writes ./kmsdiag-demo.duckdb (or
        --db PATH), replacing only a previous demo database. No AWS account needed.

        Example:  kmsdiag demo --db /tmp/demo.duckdb
        """
        from diag.render.console import print_json

        st = state()
        db = Path(os.fspath(st.db)) if st.db else None
        result = run_demo(db)
        if st.json:
            print_json(result.to_dict())
        else:
            render_demo(result, explain_count)
