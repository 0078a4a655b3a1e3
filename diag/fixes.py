"""Least-privilege fixes: the statement to add or change, as paste-ready JSON, and the AWS CLI commands.

Principles: only the actions that failed; the exact key ARN in identity policies (never ``*``); the exact
role (not the account) in key policies; existing conditions kept when a statement is corrected; a
``kms:ViaService`` condition added when the call came through a service. Commands are complete (key ARN,
region, policy name) and quoted for a POSIX shell; each list starts with a comment naming the account
whose credentials must run it.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from diag import arn as arns
from diag.collect.commands import collect_step
from diag.shell import comment, q

_SID_RE = re.compile(r"[^A-Za-z0-9]")


arn_account = arns.account_of  # the account of an ARN (None when none), used by the rules
arn_region = arns.region_of


def principal_kind_and_name(arn: str | None) -> tuple[str | None, str | None]:
    """(``role``|``user``|``root``|None, name) of an IAM ARN; role paths are dropped from the name."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.service != "iam" or parsed.region:
        return None, None
    resource = parsed.resource
    if resource == "root":
        return "root", None
    kind, _, rest = resource.partition("/")
    return kind, rest.rsplit("/", 1)[-1] if rest else None


def sid_for(*words: str) -> str:
    """A readable statement ID from words (Sids allow only letters and digits)."""
    return "".join(_SID_RE.sub("", w[:1].upper() + w[1:]) for w in words if w)[:100] or "KmsdiagFix"


def via_service_condition(via_service: str | None) -> dict[str, Any] | None:
    return {"StringEquals": {"kms:ViaService": via_service}} if via_service else None


def key_policy_statement(
    principal: str, actions: list[str], *, conditions: dict[str, Any] | None = None, sid: str | None = None
) -> dict[str, Any]:
    """A key-policy statement for one principal (Resource is ``*``: in a key policy, "this key")."""
    _, name = principal_kind_and_name(principal)
    stmt: dict[str, Any] = {
        "Sid": sid or sid_for("Allow", name or "Principal", *[a.split(":")[-1] for a in actions]),
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": actions[0] if len(actions) == 1 else actions,
        "Resource": "*",
    }
    if conditions:
        stmt["Condition"] = conditions
    return stmt


def identity_statement(
    resource: str, actions: list[str], *, conditions: dict[str, Any] | None = None, sid: str | None = None
) -> dict[str, Any]:
    """An identity-policy statement for exactly one key (or bucket/object) ARN."""
    stmt: dict[str, Any] = {
        "Sid": sid or sid_for("Allow", *[a.split(":")[-1] for a in actions], "OnKey" if ":kms:" in resource else ""),
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else actions,
        "Resource": resource,
    }
    if conditions:
        stmt["Condition"] = conditions
    return stmt


def policy_document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def replace_in_statement(statement: dict[str, Any], element: str, old: str, new: str) -> dict[str, Any]:
    """A copy of ``statement`` with value ``old`` replaced by ``new`` in ``element`` (Principal, Resource,
    Action...), everything else (conditions included) kept."""
    out = copy.deepcopy(statement)

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return new if value == old else value
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    if element in out:
        out[element] = swap(out[element])
    return out


def add_to_element(statement: dict[str, Any], element: str, values: list[str]) -> dict[str, Any]:
    """A copy of ``statement`` with ``values`` added to ``element`` (e.g. missing actions)."""
    out = copy.deepcopy(statement)
    current = out.get(element, [])
    items = [current] if isinstance(current, str) else list(current)
    for v in values:
        if v not in items:
            items.append(v)
    out[element] = items[0] if len(items) == 1 else items
    return out


def key_policy_commands(key_arn: str, *, account: str | None = None, region: str | None = None) -> tuple[str, ...]:
    """Fetch the key policy to a file, edit it, put it back (run in the key's account)."""
    region = region or arn_region(key_arn) or "REGION"
    account = account or arn_account(key_arn) or "the key's account"
    return (
        comment(f"with credentials of account {account} (the key's owner)"),
        f"aws kms get-key-policy --key-id {q(key_arn)} --policy-name default --region {q(region)}"
        " --query Policy --output text > key-policy.json",
        "# add or edit the statement shown above in the Statement list of key-policy.json, then:",
        f"aws kms put-key-policy --key-id {q(key_arn)} --policy-name default --region {q(region)}"
        " --policy file://key-policy.json",
    )


def identity_policy_commands(
    principal_arn: str, policy_name: str, document: dict[str, Any], *, account: str | None = None
) -> tuple[str, ...]:
    """Attach ``document`` as an inline policy of the caller's role or user."""
    kind, name = principal_kind_and_name(principal_arn)
    account = account or arn_account(principal_arn) or "the caller's account"
    doc = json.dumps(document, separators=(",", ":"))
    head = comment(f"with credentials of account {account} (the caller's account)")
    if kind == "user" and name:
        return (
            head,
            f"aws iam put-user-policy --user-name {q(name)} --policy-name {q(policy_name)} --policy-document {q(doc)}",
        )
    if kind == "role" and name:
        return (
            head,
            f"aws iam put-role-policy --role-name {q(name)} --policy-name {q(policy_name)} --policy-document {q(doc)}",
        )
    return (
        head,
        comment(f"{principal_arn} is not a role or user: attach the statement to the policy that grants it access"),
    )


def bucket_policy_commands(bucket: str, *, account: str | None = None) -> tuple[str, ...]:
    return (
        comment(f"with credentials of account {account or 'the bucket owner'}"),
        f"aws s3api get-bucket-policy --bucket {q(bucket)} --query Policy --output text > bucket-policy.json",
        "# add the statement shown above to the Statement list of bucket-policy.json, then:",
        f"aws s3api put-bucket-policy --bucket {q(bucket)} --policy file://bucket-policy.json",
    )


def managed_policy_commands(policy_arn: str, *, account: str | None = None) -> tuple[str, ...]:
    """Edit a customer managed policy (e.g. a permissions boundary) by adding a new default version."""
    return (
        comment(f"with credentials of account {account or arn_account(policy_arn) or 'the policy owner'}"),
        f'aws iam get-policy-version --policy-arn {q(policy_arn)} --version-id "$(aws iam get-policy'
        f' --policy-arn {q(policy_arn)} --query Policy.DefaultVersionId --output text)"'
        " --query PolicyVersion.Document --output json > policy.json",
        "# add the statement shown above to policy.json, then:",
        f"aws iam create-policy-version --policy-arn {q(policy_arn)} --policy-document file://policy.json"
        " --set-as-default",
    )


def inline_policy_name(actions: list[str], key_arn: str | None) -> str:
    """A stable inline policy name, e.g. ``kmsdiag-Decrypt-1234abcd``."""
    key_id = (key_arn or "").rsplit("/", 1)[-1][:8]
    return "-".join(["kmsdiag", *[a.split(":")[-1] for a in actions], key_id]).strip("-")[:128]


def collect_commands(what: str, *, account: str | None, region: str | None, resource: str | None) -> tuple[str, ...]:
    """``collect_step`` as lines: the credentials comment, the commands, then the command that loads them."""
    step = collect_step(what, account=account, region=region, resource=resource)
    return (step.credentials, *step.commands, *((step.load,) if step.load else ()))
