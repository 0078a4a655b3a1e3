"""IAM: roles, users, groups, inline and managed policies (get-account-authorization-details, all pages).

``get_authorization_details`` merges every page into the one document the AWS CLI prints;
``transform_authorization_details`` turns it into ``principals``, ``identity_policies`` and
``managed_policies`` rows (pure); ``fetch`` reads one account into a ``Bundle``; ``load_account`` inserts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diag.collect import commands
from diag.collect.awsjson import dumps, policy_document, to_cli_json
from diag.collect.bundle import Bundle
from diag.collect.rows import NOT_A_GAP, credentials_refusal, error_code, errors_for, gap_row, insert_rows
from diag.times import parse_time

if TYPE_CHECKING:
    import duckdb

LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def iam_path(account: str) -> str:
    return f"{account}/iam/get-account-authorization-details.json"


def get_authorization_details(client: Any) -> dict[str, Any]:
    """GetAccountAuthorizationDetails, every page merged (as ``aws iam get-account-authorization-details``)."""
    merged: dict[str, list[Any]] = {name: [] for name in LISTS}
    for page in client.get_paginator("get_account_authorization_details").paginate():
        for name in LISTS:
            merged[name].extend(page.get(name, []))
    return to_cli_json(merged)


def _doc(value: Any) -> str:
    return dumps(policy_document(value))


def _inline(account: str, arn: str, kind: str, items: Any) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for p in items or []:
        if not isinstance(p, dict) or not p.get("PolicyName") or p["PolicyName"] in seen:
            continue
        seen.add(p["PolicyName"])
        rows.append(
            {
                "account": account,
                "principal_arn": arn,
                "principal_kind": kind,
                "policy_name": p["PolicyName"],
                "document": _doc(p.get("PolicyDocument")),
            }
        )
    return rows


def _principal(account: str, kind: str, item: dict[str, Any], name_key: str, id_key: str) -> dict[str, Any]:
    boundary = item.get("PermissionsBoundary") or {}
    trust = item.get("AssumeRolePolicyDocument")
    return {
        "account": account,
        "kind": kind,
        "name": item[name_key],
        "arn": item["Arn"],
        "path": item.get("Path"),
        "unique_id": item.get(id_key),
        "create_date": parse_time(item.get("CreateDate")),
        "permissions_boundary_arn": boundary.get("PermissionsBoundaryArn"),
        "trust_policy": _doc(trust) if trust is not None else None,
        "groups": [str(g) for g in item.get("GroupList") or []],
        "attached_policy_arns": sorted(
            {str(a["PolicyArn"]) for a in item.get("AttachedManagedPolicies") or [] if a.get("PolicyArn")}
        ),
    }


def _tags(value: Any) -> str:
    """Tags list ([{"Key", "Value"}], absent = none) → JSON object; get-account-authorization-details lists
    every tag of a role or user, so an absent list means no tags."""
    out: dict[str, str] = {}
    for t in value if isinstance(value, list) else []:
        if isinstance(t, dict) and isinstance(t.get("Key"), str):
            out[t["Key"]] = str(t.get("Value") or "")
    return dumps(out)


def transform_authorization_details(account: str, doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]] | None:
    """Rows for ``principals``, ``identity_policies``, ``managed_policies`` and ``principal_tags`` (None: not
    such a document)."""
    if not isinstance(doc, dict) or not any(isinstance(doc.get(n), list) for n in LISTS):
        return None
    out: dict[str, list[dict[str, Any]]] = {
        "principals": [],
        "identity_policies": [],
        "managed_policies": [],
        "principal_tags": [],
    }
    specs = (
        ("RoleDetailList", "role", "RoleName", "RoleId", "RolePolicyList"),
        ("UserDetailList", "user", "UserName", "UserId", "UserPolicyList"),
        ("GroupDetailList", "group", "GroupName", "GroupId", "GroupPolicyList"),
    )
    seen: set[str] = set()
    for list_name, kind, name_key, id_key, inline_key in specs:
        for item in doc.get(list_name) or []:
            if not isinstance(item, dict) or not item.get("Arn") or not item.get(name_key) or item["Arn"] in seen:
                continue
            seen.add(item["Arn"])
            out["principals"].append(_principal(account, kind, item, name_key, id_key))
            if kind in ("role", "user"):
                out["principal_tags"].append({"account": account, "arn": item["Arn"], "tags": _tags(item.get("Tags"))})
            out["identity_policies"].extend(_inline(account, item["Arn"], kind, item.get(inline_key)))
    seen_versions: set[tuple[str, str]] = set()
    for pol in doc.get("Policies") or []:
        if not isinstance(pol, dict) or not pol.get("Arn"):
            continue
        default = pol.get("DefaultVersionId")
        for version in pol.get("PolicyVersionList") or []:
            vid = str(version.get("VersionId") or "")
            if not vid or (pol["Arn"], vid) in seen_versions:
                continue
            seen_versions.add((pol["Arn"], vid))
            out["managed_policies"].append(
                {
                    "account": account,
                    "policy_arn": pol["Arn"],
                    "policy_name": pol.get("PolicyName"),
                    "policy_id": pol.get("PolicyId"),
                    "version_id": vid,
                    "is_default": bool(version.get("IsDefaultVersion")) or vid == default,
                    "document": _doc(version.get("Document")) if version.get("Document") is not None else None,
                    "attachment_count": pol.get("AttachmentCount"),
                }
            )
    return out


def transform_account(bundle: Bundle, account: str) -> dict[str, list[dict[str, Any]]]:
    """Every IAM row and gap of one account in ``bundle``."""
    errors = [e for e in errors_for(bundle.errors.get(account, []), "iam") if str(e.get("error")) not in NOT_A_GAP]
    doc = bundle.get(iam_path(account))
    rows = transform_authorization_details(account, doc) if doc is not None else None
    out = rows or {"principals": [], "identity_policies": [], "managed_policies": [], "principal_tags": []}
    gaps = [
        gap_row(
            account=account,
            region=None,
            what="identity",
            call="iam get-account-authorization-details",
            resource=account,
            error=str(e.get("error") or "Error"),
            message=e.get("message"),
            how_to_collect=commands.authorization_details(account),
        )
        for e in errors
    ]
    if rows is None and not gaps:
        refusal = credentials_refusal(bundle.errors.get(account, []))
        gaps.append(
            gap_row(
                account=account,
                region=None,
                what="identity",
                call="iam get-account-authorization-details",
                resource=account,
                error=str(refusal.get("error") or "CredentialsRefused") if refusal else "NotCollected",
                message=(
                    f"not collected: AWS refused {refusal.get('call')} for account {account}"
                    f" ({refusal.get('message') or refusal.get('error')}), so nothing of this account was read"
                    if refusal
                    else "get-account-authorization-details.json is missing from the bundle"
                ),
                how_to_collect=commands.authorization_details(account),
            )
        )
    out["gaps"] = gaps
    return out


def load_account(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> dict[str, int]:
    rows = transform_account(bundle, account)
    counts = {
        t: insert_rows(con, t, snapshot_id, rows.get(t, []))
        for t in ("principals", "identity_policies", "managed_policies", "principal_tags")
    }
    counts["gaps"] = insert_rows(con, "collection_gaps", snapshot_id, rows["gaps"])
    return counts


def fetch(client: Any, bundle: Bundle, account: str) -> None:
    """Fetch the account's authorization details into ``bundle`` (a refusal becomes an errors.json entry)."""
    try:
        bundle.put(iam_path(account), get_authorization_details(client))
    except Exception as exc:
        code, msg = error_code(exc)
        bundle.error(account, "iam get-account-authorization-details", account, code, msg)
