"""`check` on the guide's walk-through scenario (sample_trails/01-guide-walkthrough): the bundle was
collected before the first run; the trails hold the fixes (PutKeyPolicy, then PutRolePolicy). Asked as of
each step, check answers like AWS did: denied by the key policy, then by IAM, then allowed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diag.check import CheckRequest, check_access
from diag.collect.bundle import Bundle, read_bundle
from diag.collect.history import build_policy_changes
from diag.collect.snapshot import load_bundle
from diag.ingest import ingest_paths
from diag.store import open_db

SCENARIO = Path(__file__).resolve().parents[2] / "sample_trails" / "01-guide-walkthrough"
ROLE = "arn:aws:iam::222222222222:role/DataProcessingRole"
KEY = "arn:aws:kms:us-east-1:111111111111:key/085c09ad-f85a-5531-8e2f-151b581e7234"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SCENARIO.is_dir():
        pytest.skip("sample_trails/01-guide-walkthrough is absent")
    path = tmp_path_factory.mktemp("walk") / "w.duckdb"
    con = open_db(path)
    ingest_paths(con, [SCENARIO / "trails"], workers=1)
    whole = read_bundle(SCENARIO / "bundle")
    for account in whole.accounts():  # one snapshot per account, as two separate collections would be
        part = Bundle(collected_at=whole.collected_at)
        part.docs = {k: v for k, v in whole.docs.items() if k.split("/", 1)[0] == account}
        part.errors = {account: whole.errors.get(account, [])}
        load_bundle(con, part)
    build_policy_changes(con)
    con.close()
    return path


@pytest.mark.parametrize(
    ("as_of", "decision", "layer"),
    [
        ("2026-11-01T09:06:11Z", "ImplicitlyDenied", "key_policy"),  # first run: no key-policy statement
        ("2026-11-01T10:03:11Z", "ImplicitlyDenied", "identity"),  # key policy fixed, no IAM policy yet
        ("2026-11-01T10:39:11Z", "Allowed", "identity"),  # both fixed
        (None, "Allowed", "key_policy"),  # today
    ],
)
def test_walkthrough_as_of_each_step(db: Path, as_of: str | None, decision: str, layer: str) -> None:
    con = open_db(db, read_only=True)
    try:
        when = dt.datetime.fromisoformat(as_of.replace("Z", "")) if as_of else None
        res = check_access(con, CheckRequest(principal=ROLE, actions=("kms:Decrypt",), key=KEY, as_of=when))
    finally:
        con.close()
    ar = res.results[0]
    assert ar.decision == decision, ar.result.reason
    assert layer in [str(x) for x in ar.result.deciding_layers]
    if as_of is not None:
        assert res.policies_as_of == when


def test_walkthrough_alias_and_cli(db: Path, run_cli) -> None:
    code, out, _ = run_cli(
        "--db", db, "check", "--principal", ROLE, "--key", KEY, "--action", "Decrypt", "--as-of", "2026-11-01T09:06:11Z"
    )
    assert code == 5 and "ImplicitlyDenied" in out
    code, out, _ = run_cli("--db", db, "check", "--principal", ROLE, "--key", KEY, "--action", "Decrypt")
    assert code == 0
