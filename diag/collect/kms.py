"""KMS: keys (DescribeKey), key policies, grants, key tags and aliases of one account, per region.

cartography style: ``get_*`` call boto3 and raise; ``transform_*`` turn the AWS CLI JSON of a bundle into
table rows (pure); ``load_*`` insert them; ``fetch_region`` fetches one region into a ``Bundle`` with a
bounded thread pool, and the account is then loaded from the bundle, so live data and a bundle take
exactly the same path. A refused call is an errors.json entry and a ``collection_gaps`` row for that one resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.collect import commands
from diag.collect.awsjson import dumps, policy_document, to_cli_json
from diag.collect.bundle import KEY_ID_RE, REGION_RE, Bundle, key_dir
from diag.collect.key_tags import get_key_tags, transform_key_tags
from diag.collect.rows import NOT_A_GAP, call_name, error_code, errors_for, gap_row, insert_rows
from diag.times import parse_time

if TYPE_CHECKING:
    import duckdb

# -------------------------------------------------------------------------------------------------- get


def get_key_list(client: Any) -> dict[str, Any]:
    """ListKeys, every page merged as the CLI prints it: ``{"Keys": [...]}``."""
    keys: list[Any] = []
    for page in client.get_paginator("list_keys").paginate():
        keys.extend(page.get("Keys", []))
    return to_cli_json({"Keys": keys})


def get_aliases(client: Any) -> dict[str, Any]:
    aliases: list[Any] = []
    for page in client.get_paginator("list_aliases").paginate():
        aliases.extend(page.get("Aliases", []))
    return to_cli_json({"Aliases": aliases})


def get_key(client: Any, key_id: str) -> dict[str, Any]:
    return to_cli_json(client.describe_key(KeyId=key_id))


def get_key_policy(client: Any, key_id: str) -> dict[str, Any]:
    return to_cli_json(client.get_key_policy(KeyId=key_id, PolicyName="default"))


def get_grants(client: Any, key_id: str) -> dict[str, Any]:
    grants: list[Any] = []
    for page in client.get_paginator("list_grants").paginate(KeyId=key_id):
        grants.extend(page.get("Grants", []))
    return to_cli_json({"Grants": grants})


# -------------------------------------------------------------------------------------------- transform


def key_arn_of(account: str, region: str, key_id: str, partition: str | None = None) -> str:
    return arns.key_arn(key_id, region, account, partition)


def transform_key(account: str, region: str, describe: dict[str, Any]) -> dict[str, Any] | None:
    """A ``keys`` row from describe-key.json (None when the document has no KeyMetadata)."""
    meta = describe.get("KeyMetadata") if isinstance(describe, dict) else None
    if not isinstance(meta, dict) or not meta.get("KeyId"):
        return None
    mrc = meta.get("MultiRegionConfiguration") or {}
    primary = (mrc.get("PrimaryKey") or {}).get("Arn")
    return {
        "account": meta.get("AWSAccountId") or account,
        "region": region,
        "key_id": meta["KeyId"],
        "key_arn": meta.get("Arn") or key_arn_of(account, region, meta["KeyId"]),
        "key_state": meta.get("KeyState"),
        "key_manager": meta.get("KeyManager"),
        "key_usage": meta.get("KeyUsage"),
        "key_spec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
        "origin": meta.get("Origin"),
        "enabled": meta.get("Enabled"),
        "multi_region": meta.get("MultiRegion"),
        "multi_region_type": mrc.get("MultiRegionKeyType"),
        "primary_key_arn": primary,
        "description": meta.get("Description"),
        "creation_date": parse_time(meta.get("CreationDate")),
        "deletion_date": parse_time(meta.get("DeletionDate")),
        "metadata": dumps(meta),
    }


def transform_key_policy(account: str, region: str, key_arn: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    """A ``key_policies`` row from get-key-policy.json (``{"Policy": "<string>", "PolicyName": "default"}``)."""
    if not isinstance(doc, dict) or doc.get("Policy") is None:
        return None
    return {
        "account": account,
        "region": region,
        "key_arn": key_arn,
        "policy_name": doc.get("PolicyName") or "default",
        "policy": dumps(policy_document(doc["Policy"])),
    }


def transform_grants(account: str, region: str, key_arn: str, doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``grants`` rows from list-grants.json (None when the document is not a ListGrants answer)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Grants"), list):
        return None
    rows = []
    for g in doc["Grants"]:
        if not isinstance(g, dict) or not g.get("GrantId"):
            continue
        rows.append(
            {
                "account": account,
                "region": region,
                "key_arn": key_arn,
                "grant_id": g["GrantId"],
                "name": g.get("Name"),
                "grantee_principal": g.get("GranteePrincipal"),
                "retiring_principal": g.get("RetiringPrincipal"),
                "issuing_account": g.get("IssuingAccount"),
                "operations": [str(o) for o in g.get("Operations") or []],
                "constraints": dumps(g["Constraints"]) if g.get("Constraints") else None,
                "creation_date": parse_time(g.get("CreationDate")),
                "raw": dumps(g),
            }
        )
    return rows


def transform_aliases(account: str, region: str, doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("Aliases"), list):
        return None
    rows = []
    seen: set[str] = set()
    for a in doc["Aliases"]:
        if not isinstance(a, dict) or not a.get("AliasName") or a["AliasName"] in seen:
            continue
        seen.add(a["AliasName"])
        target = a.get("TargetKeyId")
        rows.append(
            {
                "account": account,
                "region": region,
                "alias_name": a["AliasName"],
                "alias_arn": a.get("AliasArn"),
                "target_key_id": target,
                "target_key_arn": key_arn_of(
                    account,
                    region,
                    target,
                    arns.partition_of(str(a.get("AliasArn") or ""), arns.partition_for_region(region)),
                )
                if target
                else None,
            }
        )
    return rows


_KEY_IN_RESOURCE = re.compile(r"(?:key/)?((?:mrk-)?[0-9a-f-]{32,36})$")

_WHAT = {
    "list-keys": "keys",
    "list-aliases": "aliases",
    "describe-key": "key",
    "get-key-policy": "key_policy",
    "list-grants": "grants",
    "list-resource-tags": "key_tags",
}


def _how(what: str, account: str, region: str, key_id: str) -> str:
    if what == "keys":
        return commands.list_keys(account, region)
    if what == "aliases":
        return commands.list_aliases(account, region)
    if what == "key":
        return commands.describe_key(account, region, key_id)
    if what == "key_policy":
        return commands.get_key_policy(account, region, key_id)
    if what == "key_tags":
        return commands.list_resource_tags(account, region, key_id)
    return commands.list_grants(account, region, key_id)


def transform_account(bundle: Bundle, account: str) -> dict[str, list[dict[str, Any]]]:
    """Every KMS row and gap of one account in ``bundle`` (pure: reads only the documents)."""
    out: dict[str, list[dict[str, Any]]] = {
        "keys": [],
        "key_policies": [],
        "grants": [],
        "aliases": [],
        "key_tags": [],
        "gaps": [],
    }
    errors = errors_for(bundle.errors.get(account, []), "kms")
    reported: set[tuple[str, str]] = set()  # (what, key id or region) already covered by errors.json
    for e in errors:
        what = _WHAT.get(call_name(e.get("call")), "kms")
        resource = str(e.get("resource") or "")
        region = str(e.get("region") or _region_of(resource) or "")
        m = _KEY_IN_RESOURCE.search(resource)
        key_id = m.group(1) if m else ""
        reported.add((what, key_id or region))
        if str(e.get("error")) in NOT_A_GAP:
            continue
        out["gaps"].append(
            gap_row(
                account=account,
                region=region or None,
                what=what,
                call=f"kms {call_name(e.get('call'))}",
                resource=key_arn_of(account, region, key_id) if key_id and region else resource or None,
                error=str(e.get("error") or "Error"),
                message=e.get("message"),
                how_to_collect=_how(what, account, region or "REGION", key_id or "KEY_ID"),
            )
        )

    regions: dict[str, set[str]] = {}
    for rel in bundle.under(f"{account}/kms"):
        parts = rel.split("/")
        region = parts[2]
        regions.setdefault(region, set())
        if len(parts) == 5:
            regions[region].add(parts[3])
    for region in sorted(regions):
        listed = bundle.get(f"{account}/kms/{region}/list-keys.json")
        if isinstance(listed, dict):
            for k in listed.get("Keys") or []:
                kid = k.get("KeyId") if isinstance(k, dict) else None
                if kid and KEY_ID_RE.match(kid):
                    regions[region].add(kid)
        aliases = bundle.get(f"{account}/kms/{region}/list-aliases.json")
        alias_rows = transform_aliases(account, region, aliases) if aliases is not None else None
        if alias_rows is None:
            if ("aliases", region) not in reported:
                out["gaps"].append(_missing("aliases", account, region, "", "list-aliases"))
        else:
            out["aliases"].extend(alias_rows)
        for key_id in sorted(regions[region]):
            _transform_key_dir(bundle, account, region, key_id, reported, out)
    return out


def _region_of(resource: str) -> str | None:
    region = arns.region_of(resource) if arns.is_arn(resource) else resource
    return region if region and REGION_RE.match(region) else None


def _missing(what: str, account: str, region: str, key_id: str, command: str) -> dict[str, Any]:
    return gap_row(
        account=account,
        region=region,
        what=what,
        call=f"kms {command}",
        resource=key_arn_of(account, region, key_id) if key_id else region,
        error="NotCollected",
        message=f"{command}.json is missing from the bundle",
        how_to_collect=_how(what, account, region, key_id),
    )


def _transform_key_dir(
    bundle: Bundle,
    account: str,
    region: str,
    key_id: str,
    reported: set[tuple[str, str]],
    out: dict[str, list[dict[str, Any]]],
) -> None:
    base = key_dir(account, region, key_id)

    def keep(table: str, rows: list[dict[str, Any]] | None, what: str, command: str) -> None:
        """The rows of one call's document; a gap when it is missing and errors.json did not say why."""
        if rows is not None:
            out[table].extend(rows)
        elif (what, key_id) not in reported:
            out["gaps"].append(_missing(what, account, region, key_id, command))

    describe = bundle.get(f"{base}/describe-key.json")
    key_row = transform_key(account, region, describe) if describe is not None else None
    key_arn = key_row["key_arn"] if key_row else key_arn_of(account, region, key_id)
    keep("keys", [key_row] if key_row else None, "key", "describe-key")
    policy = bundle.get(f"{base}/get-key-policy.json")
    policy_row = transform_key_policy(account, region, key_arn, policy) if policy is not None else None
    keep("key_policies", [policy_row] if policy_row else None, "key_policy", "get-key-policy")
    grants = bundle.get(f"{base}/list-grants.json")
    keep(
        "grants",
        transform_grants(account, region, key_arn, grants) if grants is not None else None,
        "grants",
        "list-grants",
    )
    # Tags are read only by aws:ResourceTag conditions; a bundle without list-resource-tags.json (one made
    # before kmsdiag collected them, or by hand) is not a gap: the request context says what to collect
    # when a policy reads them. A refused call is a gap (errors.json, above).
    tags = bundle.get(f"{base}/list-resource-tags.json")
    tag_row = transform_key_tags(account, region, key_arn, tags) if tags is not None else None
    if tag_row is not None:
        out["key_tags"].append(tag_row)


# ------------------------------------------------------------------------------------------------- load


def load_account(con: duckdb.DuckDBPyConnection, snapshot_id: int, bundle: Bundle, account: str) -> dict[str, int]:
    """Transform and insert one account's KMS documents; return row counts per table."""
    rows = transform_account(bundle, account)
    counts = {}
    for table in ("keys", "key_policies", "grants", "aliases", "key_tags"):
        counts[table] = insert_rows(con, table, snapshot_id, rows[table])
    counts["gaps"] = insert_rows(con, "collection_gaps", snapshot_id, rows["gaps"])
    return counts


# ------------------------------------------------------------------------------------------------ fetch


def fetch_region(
    session_client: Callable[[str, str], Any],
    bundle: Bundle,
    account: str,
    region: str,
    pool: Executor,
    on_key_listed: Callable[[int], None] = lambda n: None,
    on_key_done: Callable[[], None] = lambda: None,
) -> None:
    """Fetch one region's aliases and keys into ``bundle`` (keys concurrently on ``pool``)."""
    client = session_client("kms", region)
    prefix = f"{account}/kms/{region}"
    try:
        listed = get_key_list(client)
    except Exception as exc:
        code, msg = error_code(exc)
        bundle.error(account, "kms list-keys", region, code, msg, region)
        return
    bundle.put(f"{prefix}/list-keys.json", listed)
    try:
        bundle.put(f"{prefix}/list-aliases.json", get_aliases(client))
    except Exception as exc:
        code, msg = error_code(exc)
        bundle.error(account, "kms list-aliases", region, code, msg, region)
    key_ids = [k["KeyId"] for k in listed.get("Keys", []) if KEY_ID_RE.match(str(k.get("KeyId", "")))]
    on_key_listed(len(key_ids))

    def one(key_id: str) -> None:
        base = key_dir(account, region, key_id)
        arn = key_arn_of(account, region, key_id)
        for name, fn in (
            ("describe-key", get_key),
            ("get-key-policy", get_key_policy),
            ("list-grants", get_grants),
            ("list-resource-tags", get_key_tags),
        ):
            try:
                bundle.put(f"{base}/{name}.json", fn(client, key_id))
            except Exception as exc:
                code, msg = error_code(exc)
                bundle.error(account, f"kms {name}", arn, code, msg, region)
        on_key_done()

    futures = [pool.submit(one, key_id) for key_id in key_ids]
    for f in futures:
        f.result()
