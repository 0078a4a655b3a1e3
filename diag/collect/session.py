"""boto3 sessions per account: a profile and/or an assumed role, kmsdiag's retry policy, cached clients.

Credentials come only from boto3's chain; an assumed role's temporary credentials refresh themselves
during a long collection and are never written anywhere or printed.
"""

from __future__ import annotations

import threading
from typing import Any

from diag import awsconfig
from diag.config import AccountConfig
from diag.errors import RefusedError

USER_AGENT = "kmsdiag-collect"


def client_config(max_workers: int) -> Any:
    """kmsdiag's retry policy (``diag.awsconfig``) with a connection for every worker thread."""
    return awsconfig.client_config(pool=max(10, max_workers + 2), user_agent=USER_AGENT)


class AccountSession:
    """One account's boto3 session with a (service, region) client cache safe to share across threads."""

    def __init__(self, session: Any, account_id: str, max_workers: int, default_region: str | None) -> None:
        self.session = session
        self.account_id = account_id
        self.default_region = default_region or "us-east-1"
        self._config = client_config(max_workers)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.default_region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=key[1], config=self._config)
            return self._clients[key]


def _assumed_session(base: Any, account: AccountConfig, config: Any) -> Any:
    import boto3
    from botocore.credentials import RefreshableCredentials
    from botocore.session import get_session

    sts = base.client("sts", config=config)

    def fetch() -> dict[str, str]:
        params: dict[str, Any] = {"RoleArn": account.role_arn, "RoleSessionName": account.session_name}
        if account.external_id:
            params["ExternalId"] = account.external_id
        creds = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    core: Any = get_session()  # botocore has no public setter for refreshable credentials
    core._credentials = credentials
    if base.region_name:
        core.set_config_variable("region", base.region_name)
    return boto3.Session(botocore_session=core)


def open_account(account: AccountConfig, max_workers: int) -> AccountSession:
    """Credentials for ``account`` (profile, then AssumeRole if a role is named) and its verified ID.

    Raises RefusedError (exit 4) with AWS's error code when credentials are missing or refused, or when the
    credentials belong to another account than the one configured.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        base = boto3.Session(profile_name=account.profile) if account.profile else boto3.Session()
        config = client_config(max_workers)
        session = _assumed_session(base, account, config) if account.role_arn else base
        ident = session.client("sts", config=config).get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise RefusedError(f"AWS refused the credentials for {account.label()}: {code}") from exc
    except BotoCoreError as exc:
        raise RefusedError(f"no usable AWS credentials for {account.label()}: {type(exc).__name__}: {exc}") from exc
    actual = str(ident.get("Account"))
    if account.account_id and actual != account.account_id:
        raise RefusedError(
            f"the credentials for {account.label()} belong to account {actual}, not {account.account_id}",
            hint="check the profile or role_arn of this account in kmsdiag.toml",
        )
    return AccountSession(session, actual, max_workers, session.region_name)
