"""One explain reads the policies through one batch reader that the fixes' blast radius shares
(``DbPolicySource(one_explain=True)``): the answer is the one each reading separately gives, for every
sample_trails story, and the shared reader saves queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2] / "sample_trails"
SCENARIOS = sorted(p for p in ROOT.glob("[0-9]*") if (p / "expected.json").is_file()) if ROOT.is_dir() else []
CASES = [(s.name, e) for s in SCENARIOS for e in sorted(json.loads((s / "expected.json").read_text()))]


class Counting:
    """A connection that counts the statements sent to it."""

    def __init__(self, con: Any) -> None:
        self.con, self.queries = con, 0

    def execute(self, *args: Any) -> Any:
        self.queries += 1
        return self.con.execute(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


@pytest.fixture(scope="module")
def con(stories_db: Path) -> Iterator[Any]:
    from diag.store import open_db

    c = open_db(stories_db, read_only=True)
    yield c
    c.close()


def _explain(con: Any, event_id: str, *, shared: bool) -> tuple[dict[str, Any], int]:
    from diag.diagnosis.sources import DbPolicySource
    from diag.explain import explain_id
    from diag.proof.blast import blast_for_source

    counting = Counting(con)
    source = DbPolicySource(counting, one_explain=shared)  # type: ignore[arg-type]
    diag = explain_id(counting, event_id, source=source, blast_radius=blast_for_source)  # type: ignore[arg-type]
    return diag.to_dict(), counting.queries


def test_shared_reads_give_the_same_answer_with_fewer_queries(con: Any) -> None:
    saved = 0
    for scenario, event_id in CASES:
        separate, q_separate = _explain(con, event_id, shared=False)
        shared, q_shared = _explain(con, event_id, shared=True)
        assert shared == separate, scenario
        assert q_shared <= q_separate, scenario
        saved += q_separate - q_shared
    assert saved > 0
