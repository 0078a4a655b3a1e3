"""`kmsdiag demo`'s diagnosis part on the terminal: the verdict table, representative explanations, and the
commands to go further (every value quoted, every CloudTrail string escaped)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console


def render_diagnosis_part(
    console: Console, db: Path, snapshots: int, diagnosis: dict[str, Any], examples: list[dict[str, str]]
) -> None:
    """The verdict table, the explanation of each example (as `kmsdiag explain` prints it), the next commands."""
    from rich.rule import Rule
    from rich.table import Table

    from diag.cli.explain_input import verdict_title
    from diag.explain import explain_id
    from diag.proof.blast import blast_for_source
    from diag.render.escape import safe_text
    from diag.render.explain_view import render_diagnosis
    from diag.render.tables import print_table
    from diag.store import open_db

    console.print(
        safe_text(
            f"{snapshots} evidence bundles loaded; {diagnosis.get('failures', 0)} failures diagnosed through"
            f" {diagnosis.get('decision_keys', 0)} distinct decision keys"
        )
    )
    if diagnosis.get("by_verdict"):
        table = Table(title="failures by verdict", title_justify="left", show_edge=False)
        table.add_column("verdict", no_wrap=True)
        table.add_column("events", justify="right", no_wrap=True)
        for verdict, n in diagnosis["by_verdict"].items():
            table.add_row(safe_text(verdict), str(n))
        print_table(console, table)
    if examples:
        con = open_db(db, read_only=True)
        try:
            for ex in examples:
                console.print(Rule(safe_text(f"kmsdiag explain {ex['event_id']}")))
                diagnosis_ = explain_id(con, ex["event_id"], blast_radius=blast_for_source)
                render_diagnosis(console, diagnosis_, title=verdict_title(diagnosis_))
        finally:
            con.close()
    q = shlex.quote
    ev = q(str(examples[0]["event_id"])) if examples else "EVENT_ID"
    path = q(str(db))
    console.print(Rule("go further"))
    for line in (
        f"kmsdiag failures --db {path} --limit 10        # failed calls with their event IDs",
        f"kmsdiag explain {ev} --db {path}          # one failure: verdict, evidence, fix",
        f"kmsdiag explain {ev} --db {path} --json   # the same, machine-readable",
        "kmsdiag serve &   # one warm process: every explain then answers in about half the time (serve --stop ends it)",
        f"kmsdiag explain --db {path} --error 'User: arn:aws:sts::… is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:…'",
        f"kmsdiag report --db {path} --since all --format html --out report.html",
        "python3 -c " + q(f"import diag; diag.open({str(db)!r}).sql('FROM failures_by_verdict').show()"),
        "kmsdiag ingest ./your-trails/ && kmsdiag collect --from-dir ./your-bundle && kmsdiag diagnose",
    ):
        console.print(safe_text(f"  {line}", style="cyan"), soft_wrap=True)
