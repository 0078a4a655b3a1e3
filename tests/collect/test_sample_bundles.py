"""Every sample scenario's bundle loads, alone and all into one database (the demo's case).

AWS managed policies and organization SCPs/RCPs legitimately appear under every account of a bundle;
they must be stored once, not refused as primary-key violations.
"""

from __future__ import annotations

from pathlib import Path

from diag.resources import sample_trails_dir


def test_all_sample_bundles_load_into_one_database(db_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    bundles = sorted(p / "bundle" for p in sample_trails_dir().iterdir() if (p / "bundle").is_dir())
    assert len(bundles) >= 28
    for bundle in bundles:
        code, _out, err = run_cli("collect", "--from-dir", bundle, "--db", db_path, "--quiet")
        assert code == 0, (bundle, err)
    from diag.store import open_db

    con = open_db(db_path, read_only=True)
    snapshots = con.execute("SELECT count(*) FROM snapshots").fetchone()
    aws_managed = con.execute(
        "SELECT count(*), count(DISTINCT policy_arn) FROM managed_policies WHERE policy_arn LIKE 'arn:aws:iam::aws:%'"
    ).fetchone()
    con.close()
    assert snapshots == (len(bundles),)
    assert aws_managed is not None and aws_managed[0] >= 1
