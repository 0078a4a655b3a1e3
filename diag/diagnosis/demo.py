"""`kmsdiag demo`: a fresh database from the bundled sample_trails/ (ingest, every scenario's bundle,
diagnose), a summary by verdict, and a few representative explanations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from diag.errors import BadInputError

DEMO_MARK = "kmsdiag demo"
DEFAULT_DB = Path("kmsdiag-demo.duckdb")
# Verdicts worth showing first: the guide's walk-through, a typo, a history story, a region mistake.
SHOWCASE = ("KEY_POLICY_PRINCIPAL_TYPO", "KEY_POLICY_OVERWRITTEN", "WRONG_REGION", "IAM_POLICY_MISSING")


def scenarios(root: Path | None = None) -> list[Path]:
    from diag.resources import sample_trails_dir

    base = root or sample_trails_dir()
    return sorted(p for p in base.glob("[0-9]*") if (p / "trails").is_dir() and (p / "bundle").is_dir())


def fresh_database(path: Path) -> None:
    """Remove a previous demo database at ``path``; refuse to overwrite any other file."""
    if not path.exists():
        return
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'created_by'").fetchone()
        finally:
            con.close()
    except duckdb.Error:
        row = None
    if not row or row[0] != DEMO_MARK:
        raise BadInputError(
            f"{path} exists and is not a demo database: refusing to overwrite it",
            hint="pass another --db, or remove the file yourself",
        )
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)


def build(path: Path, *, step: Callable[[str], None] | None = None, root: Path | None = None) -> dict[str, Any]:
    """Build the demo database at ``path``; return what was done."""
    from diag.collect.bundle import read_bundle
    from diag.collect.history import build_policy_changes
    from diag.collect.snapshot import load_bundle
    from diag.diagnosis.batch import diagnose_pending
    from diag.ingest import ingest_paths
    from diag.store import open_db

    found = scenarios(root)
    if not found:
        raise BadInputError("no scenarios in sample_trails/ (broken installation?)")
    fresh_database(path)
    con = open_db(path)
    try:
        con.execute(
            "INSERT INTO meta VALUES ('created_by', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [DEMO_MARK],
        )
        if step:
            step(f"ingesting the trails of {len(found)} scenarios")
        ingested = ingest_paths(con, [s / "trails" for s in found])
        if step:
            step(f"loading {len(found)} evidence bundles (collect --from-dir)")
        for s in found:
            load_bundle(con, read_bundle(s / "bundle"), source="bundle", source_path=str(s / "bundle"))
        build_policy_changes(con)
        if step:
            step("diagnosing every failure")
        summary = diagnose_pending(con)
        examples = pick_examples(con)
    finally:
        con.close()
    return {
        "db": str(path),
        "scenarios": len(found),
        "events_stored": ingested.events_stored,
        "files": ingested.files_ingested,
        "failures": summary["failures"],
        "decision_keys": summary["decision_keys"],
        "by_verdict": summary["by_verdict"],
        "examples": examples,
    }


def pick_examples(con: Any, n: int = 3) -> list[dict[str, str]]:
    """One event per showcase verdict (the earliest), up to ``n``."""
    out = []
    for verdict in SHOWCASE:
        row = con.execute(
            "SELECT d.event_id FROM diagnoses_latest d JOIN events e USING (event_id) WHERE d.verdict = ?"
            " ORDER BY e.event_time, d.event_id LIMIT 1",
            [verdict],
        ).fetchone()
        if row:
            out.append({"event_id": row[0], "verdict": verdict})
        if len(out) == n:
            break
    return out
