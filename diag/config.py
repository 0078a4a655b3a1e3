"""kmsdiag.toml + environment + command-line flags: which accounts, regions and buckets to collect.

Credentials never come from here: each account names an AWS profile and/or a role ARN to assume, and
boto3's normal chain (profiles, SSO, environment, instance roles) supplies the keys. A config file that
holds credentials is refused.

File (``./kmsdiag.toml``, ``$KMSDIAG_CONFIG`` or ``--config``)::

    [collect]
    regions = ["us-east-1", "eu-west-1"]       # default regions for every account
    buckets = ["data-bucket"]                  # buckets to read in every account that owns them
    max_workers = 8                            # concurrent KMS calls per account
    event_buckets = true                       # also read the buckets seen in ingested events

    [[accounts]]
    id = "111111111111"
    profile = "security-audit"

    [[accounts]]
    id = "222222222222"
    role_arn = "arn:aws:iam::222222222222:role/KmsdiagReadOnly"
    external_id = "kmsdiag"                    # optional
    session_name = "kmsdiag"                   # optional
    regions = ["us-west-2"]                    # optional, replaces [collect].regions
    buckets = ["app-bucket"]                   # optional, added to [collect].buckets

Environment: ``KMSDIAG_CONFIG`` (the file), ``KMSDIAG_REGIONS`` (comma-separated, replaces the file's
regions). Flags win over both: ``--profile``/``--role-arn`` collect that one account instead of the file's.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from diag import arn as arns
from diag.errors import BadInputError, UsageError

CONFIG_NAME = "kmsdiag.toml"
ACCOUNT_RE = arns.ACCOUNT_RE
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
DEFAULT_WORKERS = 8

_SECRET_WORDS = ("secret", "access_key", "session_token", "password", "aws_access_key_id")
_TOP_KEYS = {"collect", "accounts"}  # the database is --db / $KMSDIAG_DB, as for every command
_COLLECT_KEYS = {"regions", "buckets", "max_workers", "event_buckets"}
_ACCOUNT_KEYS = {"id", "profile", "role_arn", "external_id", "session_name", "regions", "buckets", "name"}


@dataclass(frozen=True)
class AccountConfig:
    """One account to collect: how to get its credentials (profile and/or role), where to look."""

    account_id: str | None = None  # None: whatever account the credentials belong to
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str = "kmsdiag"
    regions: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    name: str | None = None

    def label(self) -> str:
        return self.name or self.account_id or self.role_arn or self.profile or "default credentials"


@dataclass(frozen=True)
class Config:
    accounts: tuple[AccountConfig, ...] = (AccountConfig(),)
    regions: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    max_workers: int = DEFAULT_WORKERS
    event_buckets: bool = True
    source: Path | None = None  # the file read, if any
    extra: dict[str, Any] = field(default_factory=dict)

    def regions_for(self, account: AccountConfig) -> tuple[str, ...]:
        return account.regions or self.regions

    def buckets_for(self, account: AccountConfig) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.buckets, *account.buckets)))


def _fail(source: Path | None, message: str) -> BadInputError:
    where = f"{source}: " if source else ""
    return BadInputError(f"{where}{message}", hint="see the README, section `kmsdiag collect`, for the config format")


def _check_no_secrets(data: Any, source: Path | None, path: str = "") -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if any(word in str(key).lower() for word in _SECRET_WORDS):
                raise _fail(
                    source,
                    f"{path}{key}: kmsdiag never reads credentials from its config; name a profile or a role_arn "
                    "and let the AWS credential chain supply the keys",
                )
            _check_no_secrets(value, source, f"{path}{key}.")
    elif isinstance(data, list):
        for item in data:
            _check_no_secrets(item, source, path)


def _strings(value: Any, what: str, pattern: re.Pattern[str] | None, source: Path | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, f"{what} must be a list of strings")
    for v in value:
        if pattern is not None and not pattern.match(v):
            raise _fail(source, f"{what}: {v!r} is not valid")
    return tuple(dict.fromkeys(value))


def _opt_str(item: Mapping[str, Any], key: str, source: Path | None) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(source, f"accounts.{key} must be a non-empty string")
    return value


def parse_account(item: Any, source: Path | None = None) -> AccountConfig:
    if not isinstance(item, Mapping):
        raise _fail(source, "each [[accounts]] entry must be a table")
    unknown = set(item) - _ACCOUNT_KEYS
    if unknown:
        raise _fail(source, f"unknown key(s) in [[accounts]]: {', '.join(sorted(unknown))}")
    account_id = item.get("id")
    if account_id is not None:
        account_id = str(account_id).zfill(12) if isinstance(account_id, int) else account_id
        if not isinstance(account_id, str) or not ACCOUNT_RE.match(account_id):
            raise _fail(source, f"accounts.id {account_id!r} is not a 12-digit account ID")
    role_arn = _opt_str(item, "role_arn", source)
    if role_arn is not None and not ROLE_ARN_RE.match(role_arn):
        raise _fail(source, f"accounts.role_arn {role_arn!r} is not an IAM role ARN")
    if role_arn and account_id and arns.account_of(role_arn) != account_id:
        raise _fail(source, f"accounts.role_arn {role_arn} is not in account {account_id}")
    session_name = _opt_str(item, "session_name", source) or "kmsdiag"
    if not SESSION_NAME_RE.match(session_name):
        raise _fail(source, f"accounts.session_name {session_name!r} is not a valid role session name")
    return AccountConfig(
        account_id=account_id or arns.account_of(role_arn),
        profile=_opt_str(item, "profile", source),
        role_arn=role_arn,
        external_id=_opt_str(item, "external_id", source),
        session_name=session_name,
        regions=_strings(item.get("regions"), "accounts.regions", REGION_RE, source),
        buckets=_strings(item.get("buckets"), "accounts.buckets", BUCKET_RE, source),
        name=_opt_str(item, "name", source),
    )


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> Config:
    """A ``Config`` from parsed TOML; unknown keys and credentials are refused (BadInputError)."""
    _check_no_secrets(data, source)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(source, f"unknown key(s): {', '.join(sorted(unknown))}")
    collect = data.get("collect") or {}
    if not isinstance(collect, Mapping):
        raise _fail(source, "[collect] must be a table")
    unknown = set(collect) - _COLLECT_KEYS
    if unknown:
        raise _fail(source, f"unknown key(s) in [collect]: {', '.join(sorted(unknown))}")
    workers = collect.get("max_workers", DEFAULT_WORKERS)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise _fail(source, "collect.max_workers must be an integer from 1 to 64")
    event_buckets = collect.get("event_buckets", True)
    if not isinstance(event_buckets, bool):
        raise _fail(source, "collect.event_buckets must be true or false")
    raw_accounts = data.get("accounts")
    if raw_accounts is not None and not isinstance(raw_accounts, list):
        raise _fail(source, "accounts must be an array of tables ([[accounts]])")
    accounts = tuple(parse_account(a, source) for a in raw_accounts or []) or (AccountConfig(),)
    ids = [a.account_id for a in accounts if a.account_id]
    if len(ids) != len(set(ids)):
        raise _fail(source, "an account is listed twice")
    return Config(
        accounts=accounts,
        regions=_strings(collect.get("regions"), "collect.regions", REGION_RE, source),
        buckets=_strings(collect.get("buckets"), "collect.buckets", BUCKET_RE, source),
        max_workers=workers,
        event_buckets=event_buckets,
        source=source,
    )


def find_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """``--config`` wins, then ``$KMSDIAG_CONFIG``, then ``./kmsdiag.toml`` if it exists."""
    env = os.environ if env is None else env
    if path:
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"--config {p}: no such file")
        return p
    if env.get("KMSDIAG_CONFIG"):
        p = Path(env["KMSDIAG_CONFIG"])
        if not p.is_file():
            raise UsageError(f"KMSDIAG_CONFIG={p}: no such file")
        return p
    p = Path(CONFIG_NAME)
    return p if p.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and the environment."""
    env = os.environ if env is None else env
    source = find_config(path, env)
    cfg = Config()
    if source is not None:
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise _fail(source, f"not valid TOML: {exc}") from exc
        cfg = parse_config(data, source)
    if env.get("KMSDIAG_REGIONS"):
        regions = [r.strip() for r in env["KMSDIAG_REGIONS"].split(",") if r.strip()]
        cfg = replace(cfg, regions=_strings(regions, "KMSDIAG_REGIONS", REGION_RE, None))
    return cfg


def apply_flags(
    cfg: Config,
    *,
    profile: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    session_name: str | None = None,
    regions: Sequence[str] = (),
    buckets: Sequence[str] = (),
    max_workers: int | None = None,
) -> Config:
    """Command-line flags over the file: ``--profile``/``--role-arn`` name the one account to collect."""
    if profile or role_arn:
        item: dict[str, Any] = {"profile": profile, "role_arn": role_arn, "external_id": external_id}
        if session_name:
            item["session_name"] = session_name
        cfg = replace(cfg, accounts=(parse_account({k: v for k, v in item.items() if v is not None}),))
    elif external_id or session_name:
        raise UsageError("--external-id and --session-name go with --role-arn")
    if regions:
        try:
            cfg = replace(
                cfg,
                regions=_strings(list(regions), "--region", REGION_RE, None),
                accounts=tuple(replace(a, regions=()) for a in cfg.accounts),
            )
        except BadInputError as exc:
            raise UsageError(exc.message) from exc
    if buckets:
        try:
            cfg = replace(cfg, buckets=_strings([*cfg.buckets, *buckets], "--bucket", BUCKET_RE, None))
        except BadInputError as exc:
            raise UsageError(exc.message) from exc
    if max_workers is not None:
        if not 1 <= max_workers <= 64:
            raise UsageError("--max-workers must be from 1 to 64")
        cfg = replace(cfg, max_workers=max_workers)
    return cfg
