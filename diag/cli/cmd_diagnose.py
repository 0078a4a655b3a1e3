"""`kmsdiag diagnose`: diagnose every stored failure into the diagnoses table."""

# no `from __future__ import annotations`: typer reads these annotations at runtime
from typing import Annotated, Any

import typer

from diag.cli.common import command, open_writer, state


def register(app: typer.Typer) -> None:
    @command(app, "diagnose")
    def diagnose(
        redo_all: Annotated[
            bool, typer.Option("--all", help="Re-diagnose every failure (e.g. after a new snapshot).")
        ] = False,
    ) -> None:
        """Diagnose every failure not yet diagnosed (or all with --all) into the `diagnoses` table.

        Each distinct decision key (caller, action, key, region, context that matters, policy epoch) is
        evaluated once and joined back to every event that shares it. Query the newest diagnosis per event with
        the view `diagnoses_latest`. One row per verdict, decision and basis says what the answers rest on
        (the layers seen and not collected; `--json`: `results`).

        Example:  kmsdiag diagnose --all --json
        """
        from diag.diagnosis.batch import diagnose_pending
        from diag.render.console import err, out, print_json

        st = state()
        con = open_writer(must_exist=True)
        try:
            if st.quiet or st.json:
                summary = diagnose_pending(con, redo=redo_all)
            else:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(
                    TextColumn("diagnosing"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("decision keys"),
                    TimeElapsedColumn(),
                    console=err(),
                    transient=True,
                ) as bar:
                    task = bar.add_task("diagnose", total=None)

                    def tick(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    summary = diagnose_pending(con, redo=redo_all, progress=tick)
        finally:
            con.close()
        if st.json:
            print_json(summary)
            return
        _print_summary(out(), summary)


def _print_summary(console: Any, summary: dict[str, Any]) -> None:
    """The counts, then one row per verdict, decision and basis: what each group of answers rests on."""
    from rich.table import Table

    from diag.diagnosis.basis import line
    from diag.render.escape import safe_text

    console.print(
        safe_text(
            f"diagnosed {summary['diagnosed']:,} failures through {summary['decision_keys']:,} distinct decision keys"
            f" in {summary['seconds']:.2f} s"
        )
    )
    results = summary.get("results") or []
    if not results:
        return
    table = Table(show_edge=False)
    table.add_column("verdict", no_wrap=True)
    table.add_column("decision then", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    table.add_column("based on", overflow="fold")
    for row in results:
        table.add_row(
            safe_text(row["verdict"] or "none"),
            safe_text(row.get("decision") or "not evaluated"),
            f"{row['events']:,}",
            safe_text(line(row.get("based_on")).removeprefix("based on: ")),
        )
    console.print(table)
