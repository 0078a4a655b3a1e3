"""The AWS CLI command that produces each evidence-bundle file: shown in gaps ("how to collect") and in
the README's "build a bundle by hand" list. ``BUNDLE`` stands for the bundle folder.

Every value (key ID, region, account, bucket, policy ID, and the file path built from them) goes through
``shlex.quote``: these come from CloudTrail records and bundles, which anyone able to make an API call can
shape, and a printed command must stay one command when pasted into a shell.
"""

from __future__ import annotations

import shlex

from diag.collect.bundle import bucket_dir, key_dir, org_dir
from diag.shell import q

# The account folder of Organizations files when the reader is not known: the user puts the 12-digit ID of the
# account whose credentials run the commands (the management account or a delegated administrator) there;
# the bundle reader refuses a folder that is not an account ID, so it cannot be loaded by mistake.
MANAGEMENT_ACCOUNT = "MANAGEMENT_ACCOUNT"
ORG_POLICY_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")


def bundle_path(*parts: str) -> str:
    """``BUNDLE/part/part/...`` as one shell word (quoted when any part needs it)."""
    return q("/".join(("BUNDLE", *parts)))


def _write(command: str, *parts: str) -> str:
    """``command`` writing its output to the bundle file ``parts``, its folder made first: one line that works
    pasted into a shell in an empty folder (``mkdir -p BUNDLE/… && aws … > BUNDLE/…/file.json``)."""
    return f"mkdir -p {bundle_path(*parts[:-1])} && {command} > {bundle_path(*parts)}"


def describe_key(account: str, region: str, key_id: str, key_ref: str | None = None) -> str:
    return _write(
        f"aws kms describe-key --key-id {q(key_ref or key_id)} --region {q(region)} --output json",
        key_dir(account, region, key_id),
        "describe-key.json",
    )


def get_key_policy(account: str, region: str, key_id: str, key_ref: str | None = None) -> str:
    return _write(
        f"aws kms get-key-policy --key-id {q(key_ref or key_id)} --policy-name default --region {q(region)} --output json",
        key_dir(account, region, key_id),
        "get-key-policy.json",
    )


def list_grants(account: str, region: str, key_id: str, key_ref: str | None = None) -> str:
    return _write(
        f"aws kms list-grants --key-id {q(key_ref or key_id)} --region {q(region)} --output json",
        key_dir(account, region, key_id),
        "list-grants.json",
    )


def list_resource_tags(account: str, region: str, key_id: str, key_ref: str | None = None) -> str:
    return _write(
        f"aws kms list-resource-tags --key-id {q(key_ref or key_id)} --region {q(region)} --output json",
        key_dir(account, region, key_id),
        "list-resource-tags.json",
    )


def key_folder(account: str, region: str, key_id: str, key_ref: str | None = None) -> tuple[str, ...]:
    """Every file of one key's bundle folder (and the region's aliases), one command each. ``key_ref``: what
    ``--key-id`` names (the key ARN, which works with any credentials the key policy lets in), else the ID."""
    return (
        describe_key(account, region, key_id, key_ref),
        get_key_policy(account, region, key_id, key_ref),
        list_grants(account, region, key_id, key_ref),
        list_resource_tags(account, region, key_id, key_ref),
        list_aliases(account, region),
    )


def target_of(command: str) -> str | None:
    """The bundle file a command built here writes (the word after its last ``>``); None for a command that
    writes none (a comment, ``kmsdiag …``, a call printing to the terminal) or one that does not parse."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    ends = [i for i, w in enumerate(words) if w == ">"]
    if not ends or ends[-1] + 1 >= len(words):
        return None
    return words[ends[-1] + 1]


def list_aliases(account: str, region: str) -> str:
    return _write(
        f"aws kms list-aliases --region {q(region)} --output json", account, "kms", region, "list-aliases.json"
    )


def list_keys(account: str, region: str) -> str:
    return _write(f"aws kms list-keys --region {q(region)} --output json", account, "kms", region, "list-keys.json")


def authorization_details(account: str) -> str:
    return _write(
        "aws iam get-account-authorization-details --output json",
        account,
        "iam",
        "get-account-authorization-details.json",
    )


def bucket_call(account: str, bucket: str, command: str) -> str:
    return _write(
        f"aws s3api {q(command)} --bucket {q(bucket)} --output json", bucket_dir(account, bucket), f"{command}.json"
    )


def describe_organization(reader: str) -> str:
    return _write(
        "aws organizations describe-organization --output json", org_dir(reader), "describe-organization.json"
    )


def describe_policy(reader: str, policy_id: str) -> str:
    return _write(
        f"aws organizations describe-policy --policy-id {q(policy_id)} --output json",
        org_dir(reader),
        "describe-policy",
        f"{policy_id}.json",
    )


def list_targets(reader: str, policy_id: str) -> str:
    return _write(
        f"aws organizations list-targets-for-policy --policy-id {q(policy_id)} --output json",
        org_dir(reader),
        "list-targets-for-policy",
        f"{policy_id}.json",
    )


def list_parents(reader: str, child_id: str) -> str:
    return _write(
        f"aws organizations list-parents --child-id {q(child_id)} --output json",
        org_dir(reader),
        "list-parents",
        f"{child_id}.json",
    )


def list_policies(policy_type: str) -> str:
    return f"aws organizations list-policies --filter {q(policy_type)} --output json"


def policies_of_type(reader: str, policy_type: str) -> str:
    """Every policy of ``policy_type`` (SCPs or RCPs): its content and its targets, into the reader's
    Organizations folder, one loop over the IDs that ``list-policies`` returns (no ID to fill in by hand)."""
    base = org_dir(reader)
    described, targets = f"{base}/describe-policy", f"{base}/list-targets-for-policy"
    return (
        f"mkdir -p {bundle_path(described)} {bundle_path(targets)} && for id in $(aws organizations list-policies"
        f" --filter {q(policy_type)} --query 'Policies[].Id' --output text); do"
        f' aws organizations describe-policy --policy-id "$id" --output json > {bundle_path(described + "/")}"$id".json'
        f' && aws organizations list-targets-for-policy --policy-id "$id" --output json'
        f' > {bundle_path(targets + "/")}"$id".json; done'
    )


def organization(policy_type: str, account: str, reader: str = MANAGEMENT_ACCOUNT) -> tuple[str, ...]:
    """The Organizations files that decide the SCP or RCP layer of ``account``: its parent, and every policy
    of the type with its targets, under the reader's folder (the management account or a delegated
    administrator)."""
    return (list_parents(reader, account), policies_of_type(reader, policy_type))
