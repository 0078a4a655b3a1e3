"""Every case of ../shared/conformance/iam_conformance.jsonl through the library call behind `kmsdiag simulate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.policy.simulate import simulate_document

CASES_FILE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "iam_conformance.jsonl"


def _cases() -> list[dict]:
    if not CASES_FILE.is_file():
        return []
    return [json.loads(line) for line in CASES_FILE.read_text().splitlines() if line.strip()]


def test_all_cases_present(shared_dir: Path) -> None:
    cases = [
        json.loads(line) for line in (shared_dir / "conformance" / "iam_conformance.jsonl").read_text().splitlines()
    ]
    assert len(cases) == 158
    mismatches = [(c["id"], c["expected"], simulate_document(c)["decision"]) for c in cases]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert mismatches == []


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_case(case: dict, shared_dir: Path) -> None:
    result = simulate_document(case)
    assert result["decision"] == case["expected"], result["reason"]
    assert result["id"] == case["id"]
    assert result["layers"], "every result carries the layer trace"


def test_cases_through_cli_batch(shared_dir: Path, run_cli, tmp_path: Path) -> None:
    src = shared_dir / "conformance" / "iam_conformance.jsonl"
    code, out, err = run_cli("simulate", "--batch", src)
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    expected = [json.loads(x) for x in src.read_text().splitlines() if x.strip()]
    assert [r["id"] for r in lines] == [c["id"] for c in expected]
    assert [r["decision"] for r in lines] == [c["expected"] for c in expected]


def test_decision_without_trace_agrees_on_every_case(shared_dir: Path) -> None:
    """The fast path of `simulate --fields` (no statement trace) answers every case like the full trace."""
    from diag.policy.engine import decide, evaluate
    from diag.policy.simulate import document_to_inputs

    lines = (shared_dir / "conformance" / "iam_conformance.jsonl").read_text().splitlines()
    for case in (json.loads(line) for line in lines if line.strip()):
        request, inputs = document_to_inputs(case)
        full, fast = evaluate(request, inputs), decide(request, inputs)
        assert (fast.decision, fast.reason, fast.deciding_layers, fast.unknown) == (
            full.decision,
            full.reason,
            full.deciding_layers,
            full.unknown,
        ), case["id"]
        assert fast.decision == case["expected"], case["id"]
