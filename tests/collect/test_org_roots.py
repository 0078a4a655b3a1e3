""" "No SCPs" or "no RCPs" needs evidence: the root's policy types (ListRoots), or the policies themselves.

A bundle with the organization's paths but no policy of a type, and no list-roots.json, used to mean "the
type is not enabled, no such policies apply": a confident answer from missing files. It is a gap now.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from diag.collect import commands
from diag.collect.bundle import read_bundle
from diag.collect.inforce import policies_in_force
from diag.collect.snapshot import load_bundle
from diag.store import open_db
from tests.collect.handmade import CALLER_ACCOUNT, KEY_ACCOUNT, KEY_ARN, SESSION_ARN, write_handmade_bundle

ORG = f"{KEY_ACCOUNT}/organizations"
AT = dt.datetime(2026, 11, 28, 13, 0, 0)


def _member_bundle(root: Path, roots: dict[str, str] | None) -> Path:
    """The hand-made bundle, with the key's account a member (another account manages the organization, so
    RCPs could apply to the key), and list-roots.json when ``roots`` is given ({policy type: status})."""
    bundle = write_handmade_bundle(root)
    (bundle / ORG / "describe-organization.json").write_text(
        json.dumps({"Organization": {"Id": "o-exampleorgid", "MasterAccountId": "999999999999"}})
    )
    if roots is not None:
        types = [{"Type": t, "Status": s} for t, s in roots.items()]
        doc = {"Roots": [{"Id": "r-ab12", "Arn": "arn:aws:organizations::999999999999:root/o-exampleorgid/r-ab12",
                          "Name": "Root", "PolicyTypes": types}]}  # fmt: skip
        (bundle / ORG / "list-roots.json").write_text(json.dumps(doc))
    return bundle


def _in_force(tmp_path: Path, roots: dict[str, str] | None):  # type: ignore[no-untyped-def]
    bundle = _member_bundle(tmp_path / "bundle", roots)
    con = open_db(tmp_path / "db.duckdb")
    try:
        load_bundle(con, read_bundle(bundle), source_path=str(bundle))
        return policies_in_force(
            con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, bucket=None, at=AT
        )
    finally:
        con.close()


def test_no_policy_of_a_type_and_no_roots_is_a_gap(tmp_path: Path) -> None:
    inf = _in_force(tmp_path, None)
    assert inf.scps is not None and inf.scps[0].policies[0].name == "FullAWSAccess"  # the SCPs are in the bundle
    assert inf.rcps is None  # not known: never "no RCPs"
    (gap,) = [g for g in inf.gaps if g.what == "rcp"]
    assert "whether the organization uses RCPs was not collected" in gap.reason
    assert gap.how_to_collect == commands.list_roots(KEY_ACCOUNT)


def test_roots_without_the_type_mean_none_applies(tmp_path: Path) -> None:
    inf = _in_force(tmp_path, {"SERVICE_CONTROL_POLICY": "ENABLED"})
    assert inf.rcps == ()  # the root says RCPs are not enabled: evidence that none applies
    assert not [g for g in inf.gaps if g.what in ("rcp", "scp")]
    assert inf.scps is not None and len(inf.scps) == 3


def test_enabled_but_not_collected_is_a_gap(tmp_path: Path) -> None:
    inf = _in_force(tmp_path, {"SERVICE_CONTROL_POLICY": "ENABLED", "RESOURCE_CONTROL_POLICY": "ENABLED"})
    assert inf.rcps is None
    (gap,) = [g for g in inf.gaps if g.what == "rcp"]
    assert "enabled in the organization, but none of them was collected" in gap.reason
    assert "list-policies" in gap.how_to_collect and "RESOURCE_CONTROL_POLICY" in gap.how_to_collect


def test_a_type_being_switched_is_a_gap(tmp_path: Path) -> None:
    inf = _in_force(tmp_path, {"SERVICE_CONTROL_POLICY": "ENABLED", "RESOURCE_CONTROL_POLICY": "PENDING_ENABLE"})
    assert inf.rcps is None
    (gap,) = [g for g in inf.gaps if g.what == "rcp"]
    assert "PENDING_ENABLE" in gap.reason


def test_scps_not_enabled_on_the_root_apply_nowhere(tmp_path: Path) -> None:
    """The bundle still holds FullAWSAccess (detached when SCPs are disabled), but the root says SCPs are
    off: no SCP level applies (not an implicit deny at every level)."""
    inf = _in_force(tmp_path, {})
    assert inf.scps == () and inf.rcps == ()


def test_list_roots_one_liner_writes_where_the_reader_reads(tmp_path: Path) -> None:
    """The printed command, run with a stand-in `aws` in an empty folder, writes the file the bundle reader
    takes as the root's policy types."""
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    answer = {"Roots": [{"Id": "r-ab12", "Name": "Root", "PolicyTypes": []}]}
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(answer)}\nEOF\n")
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    line = commands.list_roots(KEY_ACCOUNT)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", line], cwd=work, env=env, check=True)
    written = work / "BUNDLE" / ORG / "list-roots.json"
    assert json.loads(written.read_text()) == answer


@pytest.mark.parametrize("bad", [{"Roots": "r-ab12"}, ["r-ab12"], {}])
def test_a_malformed_list_roots_is_no_evidence(tmp_path: Path, bad: object) -> None:
    bundle = _member_bundle(tmp_path / "bundle", None)
    (bundle / ORG / "list-roots.json").write_text(json.dumps(bad))
    con = open_db(tmp_path / "db.duckdb")
    try:
        load_bundle(con, read_bundle(bundle), source_path=str(bundle))
        inf = policies_in_force(
            con, caller_arn=SESSION_ARN, caller_account=CALLER_ACCOUNT, key_arn=KEY_ARN, bucket=None, at=AT
        )
    finally:
        con.close()
    assert inf.rcps is None  # still not known
