"""`kmsdiag explain --error TEXT` on every real error text of tests/data/error_texts (origins in cases.json),
with no matching event and no policy collected: exit 0, AWS's claim labelled as a claim (never evidence),
what to collect and pasteable commands to collect it (KMS and S3 calls; other services get no KMS advice)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CASES = json.loads((Path(__file__).resolve().parent.parent / "data" / "error_texts" / "cases.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diag.store import open_db

    db = tmp_path_factory.mktemp("errtext") / "empty.duckdb"
    open_db(db).close()
    return db


def _commands(doc: dict[str, Any]) -> list[str]:
    fixes = [c for f in doc["findings"] if f["fix"] for c in f["fix"]["commands"]]
    return fixes + [c for g in doc["gaps"] for c in g.get("collect") or []]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_answers_with_the_claim_and_what_to_collect(
    run_cli: Callable[..., tuple[int, str, str]], empty_db: Path, case: dict[str, Any]
) -> None:
    from diag.errortext import parse_error

    code, out, err = run_cli("explain", "--error", case["text"], "--db", empty_db, "--json")
    assert code == 0, f"{case['id']}: exit {code}: {err}"
    doc = json.loads(out)
    assert doc["findings"], case["id"]
    commands = _commands(doc)
    if doc["verdict"] != "OTHER_SERVICE":
        assert [c for c in commands if not c.lstrip().startswith("#")], f"{case['id']}: no command to run"
    else:
        assert not any("aws kms" in c for c in commands), f"{case['id']}: KMS advice for another service"
    for command in commands:
        shlex.split(command, comments=True)  # pasteable: quotes balance
    code, text, err = run_cli("explain", "--error", case["text"], "--db", empty_db)
    assert code == 0 and "Traceback" not in err
    claim = parse_error(case["text"]).claim
    if claim:
        assert doc["based_on"]["aws_message_claims"] == claim
        assert f"AWS's message claims: {claim} (a claim, not evidence)" in text, case["id"]
    assert doc["decision"] in (None, "Unknown")  # nothing collected: no decision is proven
