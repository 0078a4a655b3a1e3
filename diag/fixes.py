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
from dataclasses import dataclass
from typing import Any

from diag import arn as arns
from diag.collect import commands as bundle_commands
from diag.collect.bundle import KEY_ID_RE, bucket_dir, key_dir, org_dir
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


LOAD_BUNDLE = "kmsdiag collect --from-dir BUNDLE"


@dataclass(frozen=True)
class CollectStep:
    """How one evidence gap is filled: the place the evidence goes (a bundle folder such as
    ``BUNDLE/111111111111/kms/us-east-1/<key-id>``, or ``CloudTrail of account …``), the comment naming whose
    credentials run the commands, the commands (no comment among them), and the command that loads the
    result (``kmsdiag collect --from-dir BUNDLE``; None when the commands load it themselves). Gaps with the
    same ``location`` are filled by the same commands: ``diag.diagnosis.collect_plan`` prints them once."""

    location: str
    credentials: str
    commands: tuple[str, ...]
    load: str | None = LOAD_BUNDLE


_KEY_GAPS = frozenset({"key", "key_policy", "grants", "key_tags"})
_IAM_GAPS = frozenset({"identity", "principal", "permission_boundary"})
_ORG_GAPS = {"scp": "SERVICE_CONTROL_POLICY", "rcp": "RESOURCE_CONTROL_POLICY", "org": None}
_BUCKET_GAPS = frozenset({"bucket_policy", "bucket_encryption", "bucket_location"})


def _key_id(resource: str | None) -> str | None:
    """The key ID of a key ARN or a bare key ID (None for an alias or nothing)."""
    parsed = arns.parse(resource)
    ref = parsed.resource if parsed is not None else (resource or "")
    ref = ref.removeprefix("key/") if parsed is not None and ref.startswith("key/") else ref
    return ref if KEY_ID_RE.match(ref) else None


def collect_step(what: str, *, account: str | None, region: str | None, resource: str | None) -> CollectStep:
    """The commands that fill one evidence gap, writing the evidence-bundle layout (DESIGN.md section 5),
    each built by ``diag.collect.commands`` (the same one-liners the collector's own gaps print).

    Every value is quoted, the bundle paths included: key IDs, buckets and regions come from CloudTrail."""
    acct = account or arn_account(resource) or "ACCOUNT"
    head = comment(f"with read-only credentials of account {acct}")
    if what in _KEY_GAPS:
        reg = arn_region(resource) or region or "REGION"
        key_id = _key_id(resource)
        found: tuple[str, ...] = ()
        if key_id is None and resource:  # an alias or a name: its key ID first
            found = (
                f"aws kms describe-key --key-id {q(resource)} --region {q(reg)} --query KeyMetadata.KeyId --output text",
            )
            head = comment(
                f"with read-only credentials of account {acct}; put the KeyId the first command prints in place of KEY_ID"
            )
        by_arn = resource if key_id is not None and arns.parse(resource) is not None else None
        folder = bundle_commands.key_folder(acct, reg, key_id or "KEY_ID", by_arn)
        return CollectStep(f"BUNDLE/{key_dir(acct, reg, key_id or 'KEY_ID')}", head, (*found, *folder))
    if what in _IAM_GAPS:
        return CollectStep(f"BUNDLE/{acct}/iam", head, (bundle_commands.authorization_details(acct),))
    if what in _ORG_GAPS:  # under the folder of the account that reads Organizations (DESIGN.md section 5)
        policy_type = _ORG_GAPS[what]
        types = (policy_type,) if policy_type else bundle_commands.ORG_POLICY_TYPES
        cmds: tuple[str, ...]
        if what == "org":  # a collector's gap: the account is the one that read Organizations
            reader, cmds = acct, ()
            head = comment(f"with credentials of account {acct} (it read Organizations for this bundle)")
        else:  # an SCP/RCP gap: the account is the member the policies apply to
            reader = bundle_commands.MANAGEMENT_ACCOUNT
            cmds = (bundle_commands.list_parents(reader, acct),)
            head = comment(
                "with credentials of the organization's management account or a delegated administrator; put its"
                f" 12-digit account ID in place of {reader}, and repeat list-parents for each parent OU up to the root"
            )
        cmds += tuple(bundle_commands.policies_of_type(reader, t) for t in types)
        return CollectStep(f"BUNDLE/{org_dir(reader)}", head, cmds)
    if what in _BUCKET_GAPS:
        name = resource or "BUCKET"
        calls = ("get-bucket-policy", "get-bucket-encryption")
        return CollectStep(
            f"BUNDLE/{bucket_dir(acct, name)}", head, tuple(bundle_commands.bucket_call(acct, name, c) for c in calls)
        )
    if what == "session_policy":  # the STS record (AssumeRole …) that issued the caller's session
        regions = " ".join(f"--region {q(r)}" for r in dict.fromkeys(("us-east-1", region or "us-east-1")))
        return CollectStep(
            f"CloudTrail of account {acct}",
            comment(f"the STS record that issued the caller's session, from the CloudTrail of account {acct}"),
            (f"kmsdiag ingest --lookup --account {q(acct)} {regions}",),
            None,
        )
    if what == "trail":
        return CollectStep(
            f"CloudTrail of account {acct}",
            comment(f"the CloudTrail of account {acct}: its trail bucket, or LookupEvents"),
            (f"kmsdiag ingest {q(f's3://TRAIL_BUCKET/AWSLogs/{acct}/CloudTrail/')}", "kmsdiag ingest --lookup"),
            None,
        )
    return CollectStep(
        f"account {acct}",
        head,
        ("kmsdiag collect", "kmsdiag collect --out-dir BUNDLE  # or build the bundle by hand (README)"),
        None,
    )


def collect_commands(what: str, *, account: str | None, region: str | None, resource: str | None) -> tuple[str, ...]:
    """``collect_step`` as lines: the credentials comment, the commands, then the command that loads them."""
    step = collect_step(what, account=account, region=region, resource=resource)
    return (step.credentials, *step.commands, *((step.load,) if step.load else ()))
