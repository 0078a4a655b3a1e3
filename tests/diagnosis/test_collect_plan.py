"""What to collect prints each command once: gaps that share a bundle folder (the key's folder for its
metadata, key policy and grants; the caller's IAM file for identity policies and boundary; the
Organizations folder for SCPs and RCPs) are grouped, each group naming the layers it fills."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from diag.collect.commands import MANIFEST
from diag.diagnosis.collect_plan import collect_plan, plan_lines
from diag.rules.unknown import gap_entry

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_trails"
# the guide's walk-through, trails only (nothing collected): a success and a failure of the same caller and key
SUCCESS = "e35be05b-0c10-5d7a-96c1-6675f320a853"
FAILURE = "86e8877b-e69b-5be6-bf80-b7d5f29262d4"

Run = Callable[..., tuple[int, str, str]]


def _gaps() -> list[dict[str, object]]:
    return [
        gap_entry("key", "111111111111", KEY, "not collected", region="eu-west-1"),
        gap_entry("key_policy", "111111111111", KEY, "not collected", region="eu-west-1"),
        gap_entry("grants", "111111111111", KEY, "not collected", region="eu-west-1"),
        gap_entry("identity", "222222222222", None, "not collected", region="eu-west-1"),
        gap_entry("permission_boundary", "222222222222", None, "not collected", region="eu-west-1"),
        gap_entry("scp", "222222222222", None, "not collected", region="eu-west-1"),
        gap_entry("rcp", "111111111111", None, "not collected", region="eu-west-1"),
    ]


def _commands(lines: list[str]) -> list[str]:
    return [c for c in lines if not c.startswith("#")]


def test_gaps_of_one_folder_are_one_step_naming_the_layers_it_fills() -> None:
    gaps = _gaps()
    plan = collect_plan(gaps)
    by_place = {s["location"]: s for s in plan}
    key = by_place["BUNDLE/111111111111/kms/eu-west-1/1234abcd-12ab-34cd-56ef-1234567890ab"]
    assert key["fills"] == ["key", "key_policy", "grants"]
    assert by_place["BUNDLE/222222222222/iam"]["fills"] == ["identity", "permission_boundary"]
    assert by_place["BUNDLE/MANAGEMENT_ACCOUNT/organizations"]["fills"] == ["scp", "rcp"]
    assert by_place["BUNDLE/MANAGEMENT_ACCOUNT/organizations"]["account"] is None  # not the member's credentials
    assert by_place["BUNDLE/222222222222/iam"]["account"] == "222222222222"
    assert plan[-1]["commands"] == ["kmsdiag collect --from-dir BUNDLE"]  # loaded once, at the end
    assert plan[0]["commands"] == [MANIFEST]  # and the bundle's manifest first, which loading it requires
    lines = plan_lines(plan)
    commands = _commands(lines)
    assert len(commands) == len(set(commands))  # each command once
    per_gap = [c for g in gaps for c in g["collect"] if not str(c).startswith("#")]  # type: ignore[attr-defined]
    assert len(per_gap) > len(commands) and set(per_gap) | {MANIFEST} == set(commands)  # nothing lost, no repeat
    assert sum("get-account-authorization-details" in c for c in commands) == 1
    assert sum("get-key-policy" in c for c in commands) == 1
    assert "# with read-only credentials of account 111111111111; fills: key metadata, key policy, grants" in lines
    assert any(c.endswith("fills: identity policies, permission boundary") for c in lines)
    assert any(c.endswith("fills: SCPs, RCPs") for c in lines)
    # the one organization step reads both policy types and both accounts' parents
    org = by_place["BUNDLE/MANAGEMENT_ACCOUNT/organizations"]["commands"]
    assert sum("list-parents --child-id" in c for c in org) == 2
    assert any("SERVICE_CONTROL_POLICY" in c for c in org) and any("RESOURCE_CONTROL_POLICY" in c for c in org)


def test_the_manifest_line_makes_a_bundle_that_loads(tmp_path: Path) -> None:
    """Pasted into an empty folder, the plan's first line writes the manifest `collect --from-dir` requires,
    with the time it ran (UTC)."""
    from diag.collect.bundle import read_bundle

    before = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    subprocess.run(["bash", "-c", MANIFEST], cwd=tmp_path, check=True)
    bundle = read_bundle(tmp_path / "BUNDLE")
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert before <= bundle.collected_at.replace(tzinfo=None) <= after


def test_the_plan_pastes_as_one_script() -> None:
    lines = plan_lines(collect_plan(_gaps()))
    done = subprocess.run(["bash", "-n", "-c", "\n".join(lines)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for c in _commands(lines):
        assert "\n" not in c and shlex.split(c)


@pytest.fixture
def trails_only(tmp_path: Path, run_cli: Run) -> Path:
    db = tmp_path / "t.duckdb"
    code, _, err = run_cli("--db", db, "-q", "ingest", SAMPLES / "01-guide-walkthrough" / "trails")
    assert code == 0, err
    return db


@pytest.mark.parametrize("event_id", [SUCCESS, FAILURE])
def test_explain_prints_each_collect_command_once_and_whole(
    event_id: str, trails_only: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # narrow: a command is still printed whole, on its own line
    code, out, err = run_cli("--db", trails_only, "--json", "explain", event_id)
    assert code == 0, err
    doc = json.loads(out)
    assert {g["what"] for g in doc["gaps"]} >= {"identity", "permission_boundary", "grants"}
    assert all("location" in g and g["collect"] for g in doc["gaps"])  # the per-gap lists stay
    plan = doc["collect_plan"]
    iam = next(s for s in plan if s["location"] == "BUNDLE/222222222222/iam")
    assert iam["fills"] == ["identity", "permission_boundary"] and len(iam["commands"]) == 1
    code, text, err = run_cli("--db", trails_only, "explain", event_id)
    assert code == 0, err
    printed = [line.strip() for line in text.splitlines()]
    for step in plan:
        for c in step["commands"]:
            assert printed.count(c) == 1, (c, printed.count(c))  # whole, and once
    assert sum("aws iam get-account-authorization-details" in line for line in printed) == 1
    assert sum("aws kms list-grants" in line for line in printed) == 1


def test_a_redacted_key_id_never_names_a_bundle_folder(shared_dir: Path, run_cli: Run, tmp_path: Path) -> None:
    """A real, sanitized record (panther-labs/panther test data; its key ID ends in XXXXX): a folder named
    after that ID would make the bundle reader refuse the whole bundle. Every key file is written once, into
    the KEY_ID folder that the step's first command fills in."""
    record = shared_dir / "real_events" / "panther-labs-panther__kms_Decrypt_AssumedRole_lambda_env_SANITIZED.json"
    code, out, err = run_cli("--db", tmp_path / "none.duckdb", "--json", "explain", "--event-file", record)
    assert code == 0, err
    plan = json.loads(out)["collect_plan"]
    key_step = next(s for s in plan if "key_policy" in s["fills"])
    cmds = key_step["commands"]
    assert "XXXXX/" not in " ".join(cmds)  # no folder named after the redacted ID
    assert cmds[0].endswith("--query KeyMetadata.KeyId --output text")  # what to put in place of KEY_ID
    targets = [c.rsplit("> ", 1)[-1] for c in cmds if "> " in c]
    assert len(targets) == len(set(targets)) and any(t.endswith("KEY_ID/get-key-policy.json") for t in targets)
