"""Organizations: SCPs and RCPs (describe-policy), their targets, and each account's path to the root.

Readable from the management account or a delegated administrator; from a member account the calls are
refused and recorded as gaps (the SCP/RCP layers are then unknown, never empty). A member account can
still read describe-organization, which tells "in an organization" from "not in one" (no SCPs apply).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from diag.collect import commands
from diag.collect.awsjson import dumps, policy_document, to_cli_json
from diag.collect.bundle import CHILD_ID_RE, POLICY_ID_RE, Bundle, org_dir
from diag.collect.rows import NOT_A_GAP, call_name, error_code, errors_for, gap_row, insert_rows

if TYPE_CHECKING:
    import duckdb

POLICY_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")


def get_organization(client: Any) -> dict[str, Any]:
    return to_cli_json(client.describe_organization())


def get_policy_ids(client: Any, policy_type: str) -> list[str]:
    ids: list[str] = []
    for page in client.get_paginator("list_policies").paginate(Filter=policy_type):
        ids.extend(p["Id"] for p in page.get("Policies", []) if p.get("Id"))
    return ids


def get_roots(client: Any) -> dict[str, Any]:
    roots: list[Any] = []
    for page in client.get_paginator("list_roots").paginate():
        roots.extend(page.get("Roots", []))
    return to_cli_json({"Roots": roots})


def get_policy(client: Any, policy_id: str) -> dict[str, Any]:
    return to_cli_json(client.describe_policy(PolicyId=policy_id))


def get_targets(client: Any, policy_id: str) -> dict[str, Any]:
    targets: list[Any] = []
    for page in client.get_paginator("list_targets_for_policy").paginate(PolicyId=policy_id):
        targets.extend(page.get("Targets", []))
    return to_cli_json({"Targets": targets})


def get_parents(client: Any, child_id: str) -> dict[str, Any]:
    parents: list[Any] = []
    for page in client.get_paginator("list_parents").paginate(ChildId=child_id):
        parents.extend(page.get("Parents", []))
    return to_cli_json({"Parents": parents})


def transform_policy(account: str, doc: Any) -> dict[str, Any] | None:
    pol = doc.get("Policy") if isinstance(doc, dict) else None
    summary = pol.get("PolicySummary") if isinstance(pol, dict) else None
    if not isinstance(summary, dict) or not summary.get("Id"):
        return None
    content = pol.get("Content") if isinstance(pol, dict) else None
    return {
        "account": account,
        "policy_id": summary["Id"],
        "policy_type": summary.get("Type"),
        "name": summary.get("Name"),
        "arn": summary.get("Arn"),
        "aws_managed": summary.get("AwsManaged"),
        "document": dumps(policy_document(content)) if content is not None else None,
    }


def _rows_by_id(
    doc: Any, field: str, id_key: str, row: Callable[[dict[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """One row per distinct ``id_key`` of the ``field`` list of an AWS CLI answer, first seen first; None
    when ``doc`` is not that answer."""
    if not isinstance(doc, dict) or not isinstance(doc.get(field), list):
        return None
    rows, seen = [], set()
    for item in doc[field]:
        if isinstance(item, dict) and item.get(id_key) and item[id_key] not in seen:
            seen.add(item[id_key])
            rows.append(row(item))
    return rows


def transform_targets(account: str, policy_id: str, doc: Any) -> list[dict[str, Any]] | None:
    return _rows_by_id(
        doc,
        "Targets",
        "TargetId",
        lambda t: {
            "account": account,
            "policy_id": policy_id,
            "target_id": t["TargetId"],
            "target_type": t.get("Type"),
            "target_name": t.get("Name"),
            "target_arn": t.get("Arn"),
        },
    )


def transform_parents(account: str, child_id: str, doc: Any) -> list[dict[str, Any]] | None:
    return _rows_by_id(
        doc,
        "Parents",
        "Id",
        lambda p: {"account": account, "child_id": child_id, "parent_id": p["Id"], "parent_type": p.get("Type")},
    )


def transform_roots(account: str, doc: Any) -> list[dict[str, Any]] | None:
    """ListRoots: each root with the policy types enabled on it ({type: status})."""
    return _rows_by_id(
        doc,
        "Roots",
        "Id",
        lambda r: {
            "account": account,
            "root_id": r["Id"],
            "policy_types": dumps(
                {
                    str(t["Type"]): str(t.get("Status") or "")
                    for t in r.get("PolicyTypes") or []
                    if isinstance(t, dict) and t.get("Type")
                }
            ),
        },
    )


def _how(call: str, account: str, resource: str) -> str:
    if call == "describe-policy" and POLICY_ID_RE.match(resource):
        return commands.describe_policy(account, resource)
    if call == "list-targets-for-policy" and POLICY_ID_RE.match(resource):
        return commands.list_targets(account, resource)
    if call == "list-parents" and CHILD_ID_RE.match(resource):
        return commands.list_parents(account, resource)
    if call == "describe-organization":
        return commands.describe_organization(account)
    if call == "list-roots":
        return commands.list_roots(account)
    if call == "list-policies":
        return commands.list_policies(resource if resource in POLICY_TYPES else "SERVICE_CONTROL_POLICY")
    return f"aws organizations {shlex.quote(call)} --output json"


def _gap(account: str, call: str, resource: str, error: str, message: Any) -> dict[str, Any]:
    """The gap row of an Organizations call that failed or whose answer is missing."""
    return gap_row(
        account=account,
        region=None,
        what="org",
        call=f"organizations {call}",
        resource=resource or None,
        error=error,
        message=message,
        how_to_collect=_how(call, account, resource),
    )


def transform_account(bundle: Bundle, account: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "org_policies": [],
        "org_policy_targets": [],
        "org_paths": [],
        "org_roots": [],
        "gaps": [],
    }
    base = org_dir(account)
    if bundle.get(f"{base}/list-roots.json") is not None:
        out["org_roots"] = transform_roots(account, bundle.get(f"{base}/list-roots.json")) or []
    for rel in bundle.under(f"{base}/describe-policy"):
        row = transform_policy(account, bundle.get(rel))
        if row:
            out["org_policies"].append(row)
    for rel in bundle.under(f"{base}/list-targets-for-policy"):
        policy_id = rel.rsplit("/", 1)[1].removesuffix(".json")
        out["org_policy_targets"].extend(transform_targets(account, policy_id, bundle.get(rel)) or [])
    for rel in bundle.under(f"{base}/list-parents"):
        child = rel.rsplit("/", 1)[1].removesuffix(".json")
        out["org_paths"].extend(transform_parents(account, child, bundle.get(rel)) or [])
    described = {r["policy_id"] for r in out["org_policies"]}
    targeted = {r["policy_id"] for r in out["org_policy_targets"]}
    reported: set[tuple[str, str]] = set()
    for e in errors_for(bundle.errors.get(account, []), "organizations"):
        call = call_name(e.get("call"))
        resource = str(e.get("resource") or "")
        reported.add((call, resource))
        if str(e.get("error")) in NOT_A_GAP:
            continue
        out["gaps"].append(_gap(account, call, resource, str(e.get("error") or "Error"), e.get("message")))
    # a policy described but with no targets (or the reverse) is half-collected
    for policy_id in sorted(described ^ targeted):
        call = "list-targets-for-policy" if policy_id in described else "describe-policy"
        if (call, policy_id) in reported:
            continue
        message = f"{call}/{policy_id}.json is missing from the bundle"
        out["gaps"].append(_gap(account, call, policy_id, "NotCollected", message))
    return out


def org_state(bundle: Bundle, account: str) -> str:
    """in_org, not_in_org or unknown, from describe-organization.json or its errors.json entry."""
    if isinstance(bundle.get(f"{org_dir(account)}/describe-organization.json"), dict):
        return "in_org"
    if bundle.under(f"{org_dir(account)}/list-parents") or bundle.under(f"{org_dir(account)}/describe-policy"):
        return "in_org"
    if isinstance(bundle.get(f"{org_dir(account)}/list-roots.json"), dict):
        return "in_org"
    for e in errors_for(bundle.errors.get(account, []), "organizations"):
        if str(e.get("error")) == "AWSOrganizationsNotInUseException":
            return "not_in_org"
    return "unknown"


def management_account(bundle: Bundle, account: str) -> str | None:
    """The organization's management account, from describe-organization.json."""
    doc = bundle.get(f"{org_dir(account)}/describe-organization.json")
    org = doc.get("Organization") if isinstance(doc, dict) else None
    value = org.get("MasterAccountId") if isinstance(org, dict) else None
    return str(value) if value else None


def organization_id(bundle: Bundle, account: str) -> str | None:
    """The organization ID (o-...), from describe-organization.json."""
    doc = bundle.get(f"{org_dir(account)}/describe-organization.json")
    org = doc.get("Organization") if isinstance(doc, dict) else None
    value = org.get("Id") if isinstance(org, dict) else None
    return str(value) if value else None


def load_account(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> dict[str, int]:
    rows = transform_account(bundle, account)
    counts = {
        t: insert_rows(con, t, snapshot_id, rows[t])
        for t in ("org_policies", "org_policy_targets", "org_paths", "org_roots")
    }
    org_id = organization_id(bundle, account)
    if org_id:
        counts["org_ids"] = insert_rows(con, "org_ids", snapshot_id, [{"account": account, "org_id": org_id}])
    counts["gaps"] = insert_rows(con, "collection_gaps", snapshot_id, rows["gaps"])
    return counts


def fetch(
    client: Any, bundle: Bundle, account: str, children: list[str], *, skip_if_member_of: Collection[str] = ()
) -> None:
    """Fetch the organization's SCPs/RCPs, their targets and the paths of ``children`` (account IDs).

    ``skip_if_member_of``: the accounts collected in this run; when the organization's management account
    is one of them, a member account does not repeat (and fail) the organization-wide reads.
    """
    base = org_dir(account)

    def refused(call: str, resource: str, exc: BaseException) -> None:
        code, msg = error_code(exc)
        bundle.error(account, f"organizations {call}", resource, code, msg)

    try:
        org = get_organization(client)
    except Exception as exc:
        refused("describe-organization", account, exc)
        return
    bundle.put(f"{base}/describe-organization.json", org)
    master = str((org.get("Organization") or {}).get("MasterAccountId") or "")
    if master and master != account and master in skip_if_member_of:
        return
    try:  # which policy types are enabled: the evidence that SCPs or RCPs are not in use
        bundle.put(f"{base}/list-roots.json", get_roots(client))
    except Exception as exc:
        refused("list-roots", account, exc)
    for policy_type in POLICY_TYPES:
        try:
            ids = get_policy_ids(client, policy_type)
        except Exception as exc:
            refused("list-policies", policy_type, exc)
            continue
        for policy_id in ids:
            if not POLICY_ID_RE.match(policy_id):
                continue
            try:
                bundle.put(f"{base}/describe-policy/{policy_id}.json", get_policy(client, policy_id))
            except Exception as exc:
                refused("describe-policy", policy_id, exc)
            try:
                bundle.put(f"{base}/list-targets-for-policy/{policy_id}.json", get_targets(client, policy_id))
            except Exception as exc:
                refused("list-targets-for-policy", policy_id, exc)
    for child in children:
        seen: set[str] = set()
        current = child
        while current and current not in seen and CHILD_ID_RE.match(current) and not current.startswith("r-"):
            seen.add(current)
            try:
                doc = get_parents(client, current)
            except Exception as exc:
                refused("list-parents", current, exc)
                break
            bundle.put(f"{base}/list-parents/{current}.json", doc)
            parents = doc.get("Parents") or []
            current = str(parents[0].get("Id", "")) if parents else ""
