"""Credentials for the remote sources: a role assumed first (log-archive bucket), lookup targets."""

from __future__ import annotations

import pytest

from diag.errors import UsageError
from diag.ingest.remote.run import Clients, RemoteOptions, WatchPlanner

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
