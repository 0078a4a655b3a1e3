"""`kmsdiag demo`: build a database from the bundled sample trails and show what kmsdiag finds."""

# no `from __future__ import annotations`: typer reads these annotations at runtime
from pathlib import Path
from typing import Annotated, Any

import typer

from diag.cli.common import command, state


def register(app: typer.Typer) -> None:
    @command(app, "demo")
    def demo(
        explain_count: Annotated[int, typer.Option("--explain", help="How many representative events to explain.")] = 2,
    ) -> None:
        """Build a fresh database from the bundled sample trails (no AWS account needed), diagnose every
        failure, show the failures by verdict and explain a few of them.

        The database is ./kmsdiag-demo.duckdb unless --db is given; an existing file is only replaced when an
        earlier demo made it.

        Example:  kmsdiag demo --db /tmp/demo.duckdb
        """
        from diag.diagnosis import demo as dm
        from diag.render.console import err, out, print_json

        st = state()
        path = Path(st.db) if st.db else dm.DEFAULT_DB
        quiet = st.quiet or st.json

        def step(message: str) -> None:
            if not quiet:
                err().print(f"[dim]… {message}[/dim]")

        result = dm.build(path, step=step)
        result["examples"] = result["examples"][: max(0, explain_count)]
        if st.json:
            print_json(result)
            return
        _render(out(), result)


def _render(console: Any, result: dict[str, Any]) -> None:
    from rich.rule import Rule
    from rich.table import Table

    from diag.explain import explain_id
    from diag.render.escape import safe_text
    from diag.render.explain_view import render_diagnosis
    from diag.store import open_db

    db = result["db"]
    console.print(
        safe_text(
            f"{result['scenarios']} scenarios: {result['events_stored']:,} events from {result['files']} trail files;"
            f" {result['failures']} failures diagnosed ({result['decision_keys']} distinct decision keys) into {db}"
        )
    )
    table = Table(title="failures by verdict", title_justify="left", show_edge=False)
    table.add_column("verdict")
    table.add_column("events", justify="right")
    for verdict, n in result["by_verdict"].items():
        table.add_row(safe_text(verdict), str(n))
    console.print(table)
    con = open_db(db, read_only=True)
    try:
        for ex in result["examples"]:
            console.print(Rule(safe_text(f"kmsdiag explain {ex['event_id']}")))
            render_diagnosis(console, explain_id(con, ex["event_id"]))
    finally:
        con.close()
    first = result["examples"][0]["event_id"] if result["examples"] else "EVENT_ID"
    console.print(Rule("go further"))
    for line in (
        f"kmsdiag explain {first} --db {db}            # one failure: verdict, evidence, fix",
        f"kmsdiag explain {first} --db {db} --json     # the same, machine-readable",
        f"kmsdiag explain --db {db} --error 'User: arn:aws:sts::… is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:…'",
        f'duckdb -readonly {db} "SELECT verdict, count(*) FROM diagnoses_latest GROUP BY 1 ORDER BY 2 DESC"',
        f"kmsdiag report --db {db} --format html --out report.html",
        "kmsdiag ingest ./your-trails/ && kmsdiag collect --from-dir ./your-bundle && kmsdiag diagnose",
    ):
        console.print(safe_text(f"  {line}", style="cyan"), soft_wrap=True)
