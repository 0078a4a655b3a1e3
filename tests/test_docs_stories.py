"""The docs tie each sample story to its code: every scenario of sample_trails/ has a row in
sample_trails/README.md naming the verdicts its expected.json labels, and the request-context stories
listed in docs/request-context.md cite the AWS documentation page they were written from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TRAILS = REPO / "sample_trails"
SCENARIOS = sorted(p for p in TRAILS.glob("[0-9]*") if (p / "expected.json").is_file()) if TRAILS.is_dir() else []


def _rows() -> dict[str, str]:
    text = (TRAILS / "README.md").read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (\d\d-[a-z0-9-]+) \| ([^|]+) \|", text, re.M)}


@pytest.mark.skipif(not SCENARIOS, reason="sample_trails/ has no scenarios on this checkout")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_story_row_names_its_verdicts(scenario: Path) -> None:
    rows = _rows()
    assert scenario.name in rows, f"{scenario.name} has no row in sample_trails/README.md"
    verdicts = {label["verdict"] for label in json.loads((scenario / "expected.json").read_text()).values()}
    missing = [v for v in sorted(verdicts) if v not in rows[scenario.name]]
    assert not missing, f"{scenario.name}: the README row does not name {missing}"


def test_request_context_stories_cite_aws_documentation() -> None:
    page = (REPO / "docs" / "request-context.md").read_text(encoding="utf-8")
    stories = re.findall(r"^\| `(\d\d-[a-z0-9-]+)` \|", page, re.M)
    assert len(stories) >= 5
    for name in stories:
        folder = TRAILS / name
        assert (folder / "expected.json").is_file(), f"{name} is listed in docs/request-context.md but missing"
        readme = (folder / "README.md").read_text(encoding="utf-8")
        assert "https://docs.aws.amazon.com/" in readme, f"{name}: its README cites no AWS documentation page"


def test_the_story_count_the_docs_state_is_the_real_one() -> None:
    """README and the docs' index say how many stories the demo holds: the number of scenario folders."""
    for page in (REPO / "README.md", REPO / "docs" / "index.md"):
        counts = {int(n) for n in re.findall(r"(\d+) stories", page.read_text(encoding="utf-8"))}
        assert counts == {len(SCENARIOS)}, (page.name, counts, len(SCENARIOS))
