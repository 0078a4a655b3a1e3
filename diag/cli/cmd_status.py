"""`kmsdiag status`: what the database holds (tables, row counts, migrations, views)."""

from __future__ import annotations

import typer

from diag.cli.common import command, open_reader, state


def register(app: typer.Typer) -> None:
    @command(app, "status")
    def status() -> None:
        """Show what the database holds: row counts per table, applied migrations, views, inputs by status.

        Inputs left `partial` by an interrupted ingest are pointed out (the same ingest again completes them).

        Example:  kmsdiag status --db nightly.duckdb --json
        """
        from diag.render.console import out, print_json
        from diag.store.status import database_status

        con = open_reader()
        try:
            info = database_status(con)
        finally:
            con.close()
        if state().json:
            print_json(info)
            return
        from rich.table import Table

        table = Table(title="kmsdiag database", show_edge=False)
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in info["tables"].items():
            table.add_row(name, f"{count:,}")
        out().print(table)
        out().print(f"migrations: {len(info['migrations'])} applied; views: {', '.join(info['views']) or 'none'}")
        if info["migrations_pending"]:
            out().print(
                f"[yellow]{len(info['migrations_pending'])} migration(s) not applied yet: the database's creation or"
                " upgrade was interrupted, or an older kmsdiag made it; the next command that writes (e.g. kmsdiag"
                " ingest) applies them[/yellow]"
            )
        inputs = info["inputs"]
        if inputs:
            out().print("inputs: " + ", ".join(f"{n:,} {status}" for status, n in inputs.items()))
        if inputs.get("partial"):
            out().print(
                f"[yellow]{inputs['partial']:,} input(s) only partly stored: an ingest was interrupted; run the same"
                " ingest again to complete them[/yellow]"
            )
