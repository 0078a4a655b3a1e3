"""Collection reports its steps through a callback; the command line's bars (diag.render.progress) add them up."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from diag.collect.live import Step
from diag.render import console as console_mod
from diag.render.progress import _CollectBars, collect_progress


def test_bars_count_what_collection_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(console_mod, "err", lambda: Console(file=sink, force_terminal=False, width=100))
    bars = _CollectBars()
    for step in (
        Step("111111111111", "kms"),
        Step("111111111111", "kms", listed=3),
        Step("222222222222", "kms"),
        Step("111111111111", "kms", listed=2),
        Step("111111111111", "kms", fetched=1),
        Step("111111111111", "kms", fetched=1),
        Step("111111111111", "iam"),
    ):
        bars(step)
    first, second = bars.bars.tasks
    assert (first.total, first.completed, first.description) == (5, 2, "111111111111 iam")
    assert (second.total, second.completed, second.description) == (0, 0, "222222222222 kms")
    bars.stop()
    assert "111111111111 iam" in sink.getvalue()


def test_no_bars_when_quiet() -> None:
    with collect_progress(False) as progress:
        assert progress is None
