"""Every error names what to do, and no advice replaces a correct resource or undoes an SCP strategy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

RunCli = Callable[..., tuple[int, str, str]]


def test_scp_no_allow_fix_keeps_the_allow_list_strategy(demo_db: Path, run_cli: RunCli) -> None:
    con = duckdb.connect(str(demo_db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT event_id FROM failures WHERE verdict = 'SCP_NO_ALLOW'").fetchall()]
    con.close()
    assert ids
    for event_id in ids:
        doc = json.loads(run_cli("--db", demo_db, "explain", event_id, "--json")[1])
        for f in doc["findings"]:
            if f["code"] != "SCP_NO_ALLOW":
                continue
            policies = f["evidence"]["policies"]
            summary = f["fix"]["summary"]
            assert "FullAWSAccess" not in summary
            if policies and "FullAWSAccess" not in policies:
                assert "allow-list" in summary and all(p in summary for p in policies)


def test_check_of_a_key_that_does_not_exist(demo_db: Path, run_cli: RunCli) -> None:
    bogus = "arn:aws:kms:us-east-1:111111111111:key/00000000-1111-2222-3333-444444444444"
    code, out, err = run_cli(
        "--db",
        demo_db,
        "check",
        "--principal",
        "arn:aws:iam::222222222222:role/DataProcessingRole",
        "--key",
        bogus,
        "--action",
        "kms:Decrypt",
    )
    assert code == 1, (out, err)
    assert "key not found in the collected snapshot" in err and out == ""
    assert "IAM_RESOURCE_MISMATCH" not in out + err


def test_ingest_of_a_path_that_does_not_exist(tmp_path: Path, run_cli: RunCli) -> None:
    db = tmp_path / "k.duckdb"
    code, _, err = run_cli("--db", db, "ingest", tmp_path / "nonexistent")
    assert code == 3 and "no such file or folder" in err and "nothing was ingested" in err
    assert not db.exists()


def test_collect_without_configuration_says_how_to_configure(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    mp = monkeypatch
    mp.chdir(tmp_path)
    mp.delenv("KMSDIAG_CONFIG", raising=False)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        mp.delenv(var, raising=False)
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run_cli("--db", tmp_path / "k.duckdb", "collect")
    assert code == 4
    flat = " ".join(err.split())
    assert "kmsdiag.toml" in flat and "--profile" in flat and "--from-dir" in flat and "docs/collect.md" in flat
