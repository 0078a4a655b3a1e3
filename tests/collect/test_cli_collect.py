"""`kmsdiag collect` end to end: --from-dir, --out-dir with a live (moto) collection, errors."""

from __future__ import annotations

import json
from pathlib import Path

from moto import mock_aws

from tests.collect.handmade import KEY_ACCOUNT, write_handmade_bundle
from tests.collect.world import COLLECTOR, A, build_world


def test_from_dir_json(tmp_path: Path, db_path: Path, run_cli) -> None:
    bundle = write_handmade_bundle(tmp_path / "bundle")
    code, out, err = run_cli("collect", "--from-dir", bundle, "--db", db_path, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["snapshot_id"] == 1 and data["source"] == "bundle"
    assert data["counts"]["keys"] == 2 and data["counts"]["key_policies"] == 1
    assert {(g["account"], g["what"]) for g in data["gaps"]} == {(KEY_ACCOUNT, "key_policy"), (KEY_ACCOUNT, "identity")}
    # a second load is a second snapshot; the first stays
    code, out, _ = run_cli("collect", "--from-dir", bundle, "--db", db_path, "--json")
    assert json.loads(out)["snapshot_id"] == 2
    code, out, err = run_cli("collect", "--from-dir", bundle, "--db", db_path)
    assert code == 0 and "snapshot 3 (bundle)" in out and "gap(s)" in out


def test_bad_bundle_and_usage(tmp_path: Path, db_path: Path, run_cli) -> None:
    bundle = write_handmade_bundle(tmp_path / "bundle")
    (bundle / "notes.txt").write_text("hello")
    code, _, err = run_cli("collect", "--from-dir", bundle, "--db", db_path)
    assert code == 3 and "unexpected files" in err
    assert not db_path.exists()  # refused before the database was touched
    code, _, err = run_cli("collect", "--from-dir", bundle, "--out-dir", tmp_path / "x", "--db", db_path)
    assert code == 2


def test_live_with_config_and_out_dir(tmp_path: Path, db_path: Path, run_cli) -> None:
    with mock_aws():
        w = build_world()
        cfg = tmp_path / "kmsdiag.toml"
        cfg.write_text(
            f'[collect]\nregions = ["us-east-1"]\nmax_workers = 3\n\n'
            f'[[accounts]]\nid = "{A}"\nrole_arn = "arn:aws:iam::{A}:role/{COLLECTOR}"\nbuckets = ["{w.bucket}"]\n\n'
            f'[[accounts]]\nrole_arn = "arn:aws:iam::{w.b}:role/{COLLECTOR}"\n'
        )
        code, out, err = run_cli("collect", "--config", cfg, "--db", db_path, "--out-dir", tmp_path / "b", "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["accounts"] == sorted([A, w.b]) and data["counts"]["keys"] == 5 and data["bundle"]
        assert "AKIA" not in out and "testing" not in out  # no credentials in the output
        code, out, err = run_cli("collect", "--from-dir", tmp_path / "b", "--db", db_path, "--json")
        again = json.loads(out)
        assert code == 0 and again["counts"] == data["counts"] and again["collected_at"] == data["collected_at"]
        # the one-off form: flags instead of the file
        code, out, err = run_cli(
            "collect",
            "--role-arn",
            f"arn:aws:iam::{A}:role/{COLLECTOR}",
            "--region",
            "us-east-1",
            "--region",
            "eu-west-1",
            "--bucket",
            w.bucket,
            "--db",
            db_path,
            "--json",
        )
        assert code == 0, err
        one = json.loads(out)
        assert one["accounts"] == [A] and one["counts"]["keys"] == 4 and one["counts"]["bucket_policies"] == 1
        # refused credentials: exit 4, one message
        code, _, err = run_cli("collect", "--profile", "does-not-exist", "--db", db_path)
        assert code == 4 and "does-not-exist" in err and "Traceback" not in err
