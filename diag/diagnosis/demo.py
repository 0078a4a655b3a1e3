"""The diagnosis part of `kmsdiag demo`: load every scenario's evidence bundle, diagnose every failure, and
pick representative failures (``diag.cli.demo_view`` renders them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

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
