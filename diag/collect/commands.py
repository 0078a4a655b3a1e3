"""The AWS CLI command that produces each evidence-bundle file: shown in gaps ("how to collect") and in
the README's "build a bundle by hand" list. ``BUNDLE`` stands for the bundle folder.

Every value (key ID, region, account, bucket, policy ID, and the file path built from them) goes through
``shlex.quote``: these come from CloudTrail records and bundles, which anyone able to make an API call can
shape, and a printed command must stay one command when pasted into a shell.
"""

from __future__ import annotations

from diag.shell import q


def bundle_path(*parts: str) -> str:
    """``BUNDLE/part/part/...`` as one shell word (quoted when any part needs it)."""
    return q("/".join(("BUNDLE", *parts)))


def _write(command: str, *parts: str) -> str:
    """``command`` writing its output to the bundle file ``parts``, its folder made first: one line that works
    pasted into a shell in an empty folder (``mkdir -p BUNDLE/… && aws … > BUNDLE/…/file.json``)."""
    return f"mkdir -p {bundle_path(*parts[:-1])} && {command} > {bundle_path(*parts)}"


def describe_key(account: str, region: str, key_id: str) -> str:
    return _write(
        f"aws kms describe-key --key-id {q(key_id)} --region {q(region)} --output json",
        account,
        "kms",
        region,
        key_id,
        "describe-key.json",
    )


def get_key_policy(account: str, region: str, key_id: str) -> str:
    return _write(
        f"aws kms get-key-policy --key-id {q(key_id)} --policy-name default --region {q(region)} --output json",
        account,
        "kms",
        region,
        key_id,
        "get-key-policy.json",
    )


def list_grants(account: str, region: str, key_id: str) -> str:
    return _write(
        f"aws kms list-grants --key-id {q(key_id)} --region {q(region)} --output json",
        account,
        "kms",
        region,
        key_id,
        "list-grants.json",
    )


def list_resource_tags(account: str, region: str, key_id: str) -> str:
    return _write(
        f"aws kms list-resource-tags --key-id {q(key_id)} --region {q(region)} --output json",
        account,
        "kms",
        region,
        key_id,
        "list-resource-tags.json",
    )


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
        f"aws s3api {q(command)} --bucket {q(bucket)} --output json", account, "s3", bucket, f"{command}.json"
    )


def describe_organization(account: str) -> str:
    return _write(
        "aws organizations describe-organization --output json", account, "organizations", "describe-organization.json"
    )


def describe_policy(account: str, policy_id: str) -> str:
    return _write(
        f"aws organizations describe-policy --policy-id {q(policy_id)} --output json",
        account,
        "organizations",
        "describe-policy",
        f"{policy_id}.json",
    )


def list_targets(account: str, policy_id: str) -> str:
    return _write(
        f"aws organizations list-targets-for-policy --policy-id {q(policy_id)} --output json",
        account,
        "organizations",
        "list-targets-for-policy",
        f"{policy_id}.json",
    )


def list_parents(account: str, child_id: str) -> str:
    return _write(
        f"aws organizations list-parents --child-id {q(child_id)} --output json",
        account,
        "organizations",
        "list-parents",
        f"{child_id}.json",
    )


def list_policies(policy_type: str) -> str:
    return f"aws organizations list-policies --filter {q(policy_type)} --output json"
