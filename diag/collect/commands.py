"""The AWS CLI command that produces each evidence-bundle file: shown in gaps ("how to collect") and in
the README's "build a bundle by hand" list. ``BUNDLE`` stands for the bundle folder.

Every value (key ID, region, account, bucket, policy ID, and the file path built from them) goes through
``shlex.quote``: these come from CloudTrail records and bundles, which anyone able to make an API call can
shape, and a printed command must stay one command when pasted into a shell.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from diag import arn as arns
from diag.collect.bundle import KEY_ID_RE, bucket_dir, key_dir, org_dir
from diag.shell import comment, q

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


def _org_by_id(reader: str, call: str, option: str, ident: str) -> str:
    """``aws organizations CALL OPTION ID`` into ``<reader>/organizations/CALL/ID.json``."""
    return _write(f"aws organizations {call} {option} {q(ident)} --output json", org_dir(reader), call, f"{ident}.json")


def describe_policy(reader: str, policy_id: str) -> str:
    return _org_by_id(reader, "describe-policy", "--policy-id", policy_id)


def list_targets(reader: str, policy_id: str) -> str:
    return _org_by_id(reader, "list-targets-for-policy", "--policy-id", policy_id)


def list_parents(reader: str, child_id: str) -> str:
    return _org_by_id(reader, "list-parents", "--child-id", child_id)


def list_roots(reader: str) -> str:
    """The organization's root with the policy types enabled on it (whether SCPs or RCPs are in use)."""
    return _write("aws organizations list-roots --output json", org_dir(reader), "list-roots.json")


def list_policies(policy_type: str) -> str:
    return f"aws organizations list-policies --filter {q(policy_type)} --output json"


def policies_of_type(reader: str, policy_type: str) -> str:
    """Every policy of ``policy_type`` (SCPs or RCPs): its content and its targets, into the reader's
    Organizations folder, one loop over the IDs that ``list-policies`` returns (no ID to fill in by hand). A
    refused ``list-policies`` stops the line with AWS's error and a non-zero status (the loop does not run)."""
    base = org_dir(reader)
    described, targets = f"{base}/describe-policy", f"{base}/list-targets-for-policy"
    return (
        f"mkdir -p {bundle_path(described)} {bundle_path(targets)} && ids=$(aws organizations list-policies"
        f" --filter {q(policy_type)} --query 'Policies[].Id' --output text) && for id in $ids; do"
        f' aws organizations describe-policy --policy-id "$id" --output json > {bundle_path(described + "/")}"$id".json'
        f' && aws organizations list-targets-for-policy --policy-id "$id" --output json'
        f' > {bundle_path(targets + "/")}"$id".json; done'
    )


def organization(policy_type: str, account: str, reader: str = MANAGEMENT_ACCOUNT) -> tuple[str, ...]:
    """The Organizations files that decide the SCP or RCP layer of ``account``: its parent, and every policy
    of the type with its targets, under the reader's folder (the management account or a delegated
    administrator)."""
    return (list_parents(reader, account), list_roots(reader), policies_of_type(reader, policy_type))


LOAD_BUNDLE = "kmsdiag collect --from-dir BUNDLE"
# The bundle's manifest: when its files are collected (UTC), which `kmsdiag collect --from-dir` requires. A
# plan writes it first, so that a bundle made by pasting the plan into an empty folder loads as it is.
MANIFEST = (
    'mkdir -p BUNDLE && printf \'{"collected_at": "%s"}\\n\' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > BUNDLE/manifest.json'
)


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


def key_file_command(what: str, account: str, region: str, key_arn: str) -> str:
    """The one-liner that writes the ``key`` (describe-key), ``key_policy`` (get-key-policy) or ``grants``
    (list-grants) file of ``key_arn``; "" when its key ID cannot name a bundle folder (a redacted or malformed ID, which the bundle
    reader refuses): ``collect_step`` then prints the commands that find the key ID first."""
    key_id = _key_id(key_arn)
    if key_id is None:
        return ""
    build = {"key": describe_key, "key_policy": get_key_policy, "grants": list_grants}[what]
    return build(account, region, key_id)


def collect_step(what: str, *, account: str | None, region: str | None, resource: str | None) -> CollectStep:
    """The commands that fill one evidence gap, writing the evidence-bundle layout (DESIGN.md section 5),
    each built by ``diag.collect.commands`` (the same one-liners the collector's own gaps print).

    Every value is quoted, the bundle paths included: key IDs, buckets and regions come from CloudTrail."""
    acct = account or arns.account_of(resource) or "ACCOUNT"
    head = comment(f"with read-only credentials of account {acct}")
    if what in _KEY_GAPS:
        reg = arns.region_of(resource) or region or "REGION"
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
        folder = key_folder(acct, reg, key_id or "KEY_ID", by_arn)
        return CollectStep(f"BUNDLE/{key_dir(acct, reg, key_id or 'KEY_ID')}", head, (*found, *folder))
    if what in _IAM_GAPS:
        return CollectStep(f"BUNDLE/{acct}/iam", head, (authorization_details(acct),))
    if what in _ORG_GAPS:  # under the folder of the account that reads Organizations (DESIGN.md section 5)
        policy_type = _ORG_GAPS[what]
        types = (policy_type,) if policy_type else ORG_POLICY_TYPES
        cmds: tuple[str, ...]
        if what == "org":  # a collector's gap: the account is the one that read Organizations
            reader, cmds = acct, ()
            head = comment(f"with credentials of account {acct} (it read Organizations for this bundle)")
        else:  # an SCP/RCP gap: the account is the member the policies apply to
            reader = MANAGEMENT_ACCOUNT
            cmds = (list_parents(reader, acct),)
            head = comment(
                "with credentials of the organization's management account or a delegated administrator; put its"
                f" 12-digit account ID in place of {reader}, and repeat list-parents for each parent OU up to the root"
            )
        cmds += (list_roots(reader), *(policies_of_type(reader, t) for t in types))  # roots: which types are on
        return CollectStep(f"BUNDLE/{org_dir(reader)}", head, cmds)
    if what in _BUCKET_GAPS:
        name = resource or "BUCKET"
        calls = ("get-bucket-policy", "get-bucket-encryption")
        return CollectStep(f"BUNDLE/{bucket_dir(acct, name)}", head, tuple(bucket_call(acct, name, c) for c in calls))
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
