"""Credentials for the remote sources: a role assumed first (log-archive bucket), lookup targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.errors import UsageError
from diag.ingest.pulls import Clients, RemoteOptions, WatchPlanner

MOTO_ACCOUNT = "123456789012"  # moto's default account


def test_assumed_role_session_reads_the_bucket(moto: str) -> None:
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="log-archive")
    clients = Clients(RemoteOptions(role_arn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/LogReader"))
    creds = clients.session.get_credentials()
    assert creds is not None and creds.access_key != "testing"  # the assumed role's keys, not the caller's
    assert [b["Name"] for b in clients.s3.list_buckets()["Buckets"]] == ["log-archive"]


def test_lookup_targets_cover_us_east_1_and_refuse_other_accounts(moto: str) -> None:
    targets = Clients(RemoteOptions(regions=("eu-west-1",))).lookup_targets()
    assert [(t.account, t.region) for t in targets] == [(MOTO_ACCOUNT, "eu-west-1"), (MOTO_ACCOUNT, "us-east-1")]
    assert targets[0].client.meta.config.retries["total_max_attempts"] == 1  # we pace and retry ourselves
    with pytest.raises(UsageError, match="event history of the account"):
        Clients(RemoteOptions(accounts=("999999999999",))).lookup_targets()


def test_watch_rejects_until() -> None:
    import datetime as dt

    with pytest.raises(UsageError, match="--until"):
        WatchPlanner(RemoteOptions(until=dt.datetime(2026, 1, 1)))


def test_lookup_reads_every_configured_account(moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kmsdiag.toml accounts (a role in each, as for `kmsdiag collect`): one target per account and region."""
    (tmp_path / "kmsdiag.toml").write_text(
        """
[collect]
regions = ["eu-west-1"]

[[accounts]]
id = "111111111111"
role_arn = "arn:aws:iam::111111111111:role/KmsdiagReadOnly"

[[accounts]]
id = "222222222222"
role_arn = "arn:aws:iam::222222222222:role/KmsdiagReadOnly"
regions = ["ap-southeast-2"]
"""
    )
    monkeypatch.chdir(tmp_path)
    targets = Clients(RemoteOptions()).lookup_targets()
    assert [(t.account, t.region) for t in targets] == [
        ("111111111111", "eu-west-1"),
        ("111111111111", "us-east-1"),
        ("222222222222", "ap-southeast-2"),
        ("222222222222", "us-east-1"),
    ]
    only_b = Clients(RemoteOptions(accounts=("222222222222",), regions=("us-east-1",))).lookup_targets()
    assert [(t.account, t.region) for t in only_b] == [("222222222222", "us-east-1")]
    with pytest.raises(UsageError, match="not in"):
        Clients(RemoteOptions(accounts=("333333333333",))).lookup_targets()
