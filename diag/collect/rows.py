"""Shared plumbing of the ``load_*`` functions: batched parameterized inserts and gap rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from diag.store.bulk import insert_columns

if TYPE_CHECKING:
    import duckdb

# The only tables a loader may write to (names are never taken from input).
SNAPSHOT_TABLES = (
    "keys",
    "key_policies",
    "grants",
    "aliases",
    "principals",
    "identity_policies",
    "managed_policies",
    "bucket_policies",
    "org_policies",
    "org_policy_targets",
    "org_paths",
    "org_roots",
    "collection_gaps",
    "principal_tags",
    "org_ids",
    "key_tags",
)

# Rows that legitimately repeat across the accounts of one snapshot: AWS managed policies
# (arn:aws:iam::aws:policy/...) are listed by every account, and every member account of an organization
# sees the same SCPs/RCPs, targets and parents. The same row twice is one fact, so it is stored once.
SHARED_ACROSS_ACCOUNTS = frozenset({"managed_policies", "org_policies", "org_policy_targets", "org_paths", "org_roots"})

GAP_COLUMNS = ("account", "region", "what", "call", "resource", "error", "message", "how_to_collect")

_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")

# errors.json entries that are answers, not gaps: the thing is known to be absent.
NOT_A_GAP = {
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "AWSOrganizationsNotInUseException",
    "PolicyTypeNotEnabledException",
}


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, snapshot_id: int, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with identical keys) into ``table`` for ``snapshot_id``; return the count."""
    if table not in SNAPSHOT_TABLES:
        raise ValueError(f"not a snapshot table: {table}")
    if not rows:
        return 0
    columns = list(rows[0])
    tail = "ON CONFLICT DO NOTHING" if table in SHARED_ACROSS_ACCOUNTS else ""
    return insert_columns(
        con,
        table,
        ["snapshot_id", *columns],
        [[snapshot_id, *(row[c] for c in columns)] for row in rows],
        tail=tail,
    )


def call_name(call: Any) -> str:
    """Normalize an errors.json ``call`` ("kms get-key-policy", "kms:GetKeyPolicy", "GetKeyPolicy") to
    the CLI command name ("get-key-policy")."""
    text = str(call or "").strip()
    text = text.replace("aws ", "").split(":")[-1].split()[-1] if text else ""
    if "-" not in text and any(c.isupper() for c in text):
        text = _CAMEL_RE.sub("-", text)
    return text.lower()


def service_of(call: Any) -> str:
    """The service an errors.json call belongs to (kms, iam, s3, organizations), or ""."""
    name = call_name(call)
    for svc, names in _SERVICE_CALLS.items():
        if name in names:
            return svc
    first = str(call or "").strip().lower().replace("aws ", "").split(":")[0].split(" ")[0]
    return {"s3api": "s3"}.get(first, first if first in _SERVICE_CALLS else "")


_SERVICE_CALLS = {
    "kms": {"list-keys", "list-aliases", "describe-key", "get-key-policy", "list-grants"},
    "iam": {"get-account-authorization-details"},
    "s3": {"get-bucket-policy", "get-bucket-encryption", "get-bucket-location"},
    "organizations": {
        "describe-organization",
        "list-policies",
        "describe-policy",
        "list-targets-for-policy",
        "list-parents",
        "list-roots",
    },
}


def gap_row(
    *,
    account: str | None,
    region: str | None,
    what: str,
    call: str,
    resource: str | None,
    error: str,
    message: str | None = None,
    how_to_collect: str = "",
) -> dict[str, Any]:
    return {
        "account": account,
        "region": region,
        "what": what,
        "call": call,
        "resource": resource,
        "error": error,
        "message": message,
        "how_to_collect": how_to_collect,
    }


def errors_for(entries: Iterable[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """The errors.json entries of one service."""
    return [e for e in entries if service_of(e.get("call")) == service]


def error_code(exc: BaseException) -> tuple[str, str]:
    """(AWS error code, message) of a botocore ClientError; the exception type for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        return str(err.get("Code") or type(exc).__name__), str(err.get("Message") or "")
    return type(exc).__name__, str(exc)


def credentials_refusal(entries: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The errors.json entry saying the account's credentials were refused (``sts assume-role`` or
    ``sts get-caller-identity``), if any: then nothing of the account was read, live."""
    return next((e for e in entries if str(e.get("call") or "").startswith("sts ")), None)
