"""Every scenario of sample_trails/ through `kmsdiag ingest`, `kmsdiag collect --from-dir` and
`kmsdiag explain --json`: each labelled event's verdict must match expected.json, and its codes must
include every expected code (expected.json lists the minimal set; see sample_trails/README.md).

All scenarios share one database, as in `kmsdiag demo` (each scenario has its own accounts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent / "sample_trails"
SCENARIOS = sorted(p for p in ROOT.glob("[0-9]*") if (p / "expected.json").is_file()) if ROOT.is_dir() else []
CASES = [
    (s.name, event_id, label)
    for s in SCENARIOS
    for event_id, label in sorted(json.loads((s / "expected.json").read_text(encoding="utf-8")).items())
]


@pytest.fixture(scope="module")
def scenario_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from diag.cli.app import main

    db = tmp_path_factory.mktemp("scenarios") / "scenarios.duckdb"
    assert main(["ingest", "--db", str(db), "--quiet", *[str(s / "trails") for s in SCENARIOS]]) == 0
    for s in SCENARIOS:
        assert main(["collect", "--db", str(db), "--quiet", "--from-dir", str(s / "bundle")]) == 0, s.name
    yield db


@pytest.mark.skipif(not CASES, reason="sample_trails/ has no scenarios on this checkout")
@pytest.mark.parametrize(("scenario", "event_id", "label"), CASES, ids=[f"{c[0]}:{c[1][:8]}" for c in CASES])
def test_scenario_event(
    run_cli: Callable[..., tuple[int, str, str]], scenario_db: Path, scenario: str, event_id: str, label: dict[str, Any]
) -> None:
    code, out, err = run_cli("explain", event_id, "--db", scenario_db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    got = [f["code"] for f in doc["findings"]]
    detail = json.dumps([{k: f[k] for k in ("code", "layer", "summary")} for f in doc["findings"]], indent=1)
    assert doc["verdict"] == label["verdict"], f"{scenario}: codes {got}\n{detail}"
    missing = set(label["codes"]) - set(got)
    assert not missing, f"{scenario}: missing {sorted(missing)}; got {got}\n{detail}"
    assert doc["event"]["event_id"] == event_id
    _no_forbidden_fix(scenario_db, doc)


def _no_forbidden_fix(db: Path, doc: dict[str, Any]) -> None:
    """No fix edits what AWS forbids editing: service-linked roles, AWS managed IAM policies, AWS managed
    keys' policies, FullAWSAccess/RCPFullAWSAccess (diag.rules._forbidden.forbidden_edit)."""
    import shlex

    import duckdb

    from diag.rules._forbidden import forbidden_edit

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT key_arn, key_id FROM keys WHERE key_manager = 'AWS'").fetchall()
        raw = con.execute("SELECT raw FROM events WHERE event_id = ?", [doc["event"]["event_id"]]).fetchone()
    managed = frozenset(v for row in rows for v in row)
    own = (json.loads(raw[0]).get("requestParameters") or {}).get("encryptionContext") if raw else None
    for f in doc["findings"]:
        for cmd in (f.get("fix") or {}).get("commands") or []:
            why = forbidden_edit(cmd, managed)
            assert why is None, f"{f['code']} proposes `{cmd}`: {why}"
            words = shlex.split(cmd, comments=True)
            if words[:3] == ["aws", "kms", "create-grant"] and "--constraints" in words:
                constraints = json.loads(words[words.index("--constraints") + 1])
                assert constraints == {"EncryptionContextSubset": own}, f"{f['code']}: a grant scoped to {constraints}"
