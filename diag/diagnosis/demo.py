"""The diagnosis part of `kmsdiag demo`: load every scenario's evidence bundle, diagnose every failure,
pick representative failures, and render the verdict table, their explanations and the next commands."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    from rich.console import Console

# Verdicts worth showing first: a typo, a history story, a region mistake, the guide's missing IAM policy.
SHOWCASE = ("KEY_POLICY_PRINCIPAL_TYPO", "KEY_POLICY_OVERWRITTEN", "WRONG_REGION", "IAM_POLICY_MISSING")


def scenarios(root: Path | None = None) -> list[Path]:
    """The bundled scenario folders that have both trails and a bundle."""
    from diag.resources import sample_trails_dir

    try:
        base = root or sample_trails_dir()
    except FileNotFoundError:
        return []
    return sorted(p for p in base.glob("[0-9]*") if (p / "trails").is_dir() and (p / "bundle").is_dir())


def collect_and_diagnose(con: duckdb.DuckDBPyConnection, bundles: list[Path]) -> tuple[int, dict[str, Any]]:
    """Load ``bundles`` as snapshots (as `collect --from-dir`), rebuild the policy history, diagnose every
    failure; return (snapshots loaded, the diagnose summary)."""
    from diag.collect.bundle import read_bundle
    from diag.collect.history import build_policy_changes
    from diag.collect.snapshot import load_bundle
    from diag.diagnosis.batch import diagnose_pending

    for bundle in bundles:
        load_bundle(con, read_bundle(bundle), source="bundle", source_path=str(bundle))
    build_policy_changes(con)
    summary = diagnose_pending(con)
    return len(bundles), {k: summary[k] for k in ("failures", "decision_keys", "by_verdict", "seconds")}


def pick_examples(con: duckdb.DuckDBPyConnection, n: int = 3) -> list[dict[str, str]]:
    """The earliest event of each showcase verdict (then of any verdict), up to ``n``."""
    out: list[dict[str, str]] = []
    rows = con.execute(
        "SELECT d.event_id, d.verdict FROM diagnoses_latest d JOIN events e USING (event_id)"
        " ORDER BY e.event_time, d.event_id"
    ).fetchall()
    ranked = sorted(rows, key=lambda r: SHOWCASE.index(r[1]) if r[1] in SHOWCASE else len(SHOWCASE))
    seen: set[str] = set()
    for event_id, verdict in ranked:
        if verdict in seen:
            continue
        seen.add(verdict)
        out.append({"event_id": event_id, "verdict": verdict})
        if len(out) == n:
            break
    return out


def render_diagnosis_part(
    console: Console, db: Path, snapshots: int, diagnosis: dict[str, Any], examples: list[dict[str, str]]
) -> None:
    from rich.rule import Rule
    from rich.table import Table

    from diag.explain import explain_id
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
                render_diagnosis(console, explain_id(con, ex["event_id"]))
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
        f"kmsdiag explain --db {path} --error 'User: arn:aws:sts::… is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:…'",
        f"kmsdiag report --db {path} --since all --format html --out report.html",
        "python3 -c " + q(f"import diag; diag.open({str(db)!r}).sql('FROM failures_by_verdict').show()"),
        "kmsdiag ingest ./your-trails/ && kmsdiag collect --from-dir ./your-bundle && kmsdiag diagnose",
    ):
        console.print(safe_text(f"  {line}", style="cyan"), soft_wrap=True)
