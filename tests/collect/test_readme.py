"""The collect page of the docs agrees with the code: the IAM policy and the bundle commands."""

from __future__ import annotations

import json
import re

from diag.collect.bundle import _valid_rel
from diag.collect.permissions import READ_ONLY_ACTIONS, read_only_policy
from tests.conftest import REPO


def _section() -> str:
    return (REPO / "docs" / "collect.md").read_text(encoding="utf-8")


def test_readme_policy_lists_exactly_the_actions() -> None:
    section = _section()
    block = section[section.index("## Least-privilege IAM policy") :]
    doc = json.loads(block[block.index("```json") + 7 : block.index("```", block.index("```json") + 7)])
    assert doc == read_only_policy()
    assert sorted(doc["Statement"][0]["Action"]) == sorted(READ_ONLY_ACTIONS)


def test_readme_bundle_commands_write_layout_paths() -> None:
    subst = {
        "A": "111111111111",
        "R": "us-east-1",
        "KEY": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "B": "data-bucket",
        "P": "p-abcd1234",
        "C": "222222222222",
    }
    paths = re.findall(r"> BUNDLE/(\S+)", _section())
    assert len(paths) >= 14
    for raw in paths:
        rel = "/".join(subst.get(part, part) for part in raw.split("/"))
        rel = re.sub(r"/(P|C)\.json$", lambda m: "/" + subst[m.group(1)] + ".json", rel)
        assert _valid_rel(tuple(rel.split("/"))), raw
