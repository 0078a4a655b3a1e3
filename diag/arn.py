"""Amazon Resource Names: parse, build, partition-aware (``aws``, ``aws-cn``, ``aws-us-gov``, ISO partitions).

``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`` - the resource keeps its own ``:`` and ``/`` (``key/ID``,
``role/path/name``, ``bucket/object``). Standard library only: the policy engine may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

DEFAULT_PARTITION = "aws"
ACCOUNT_RE = re.compile(r"^\d{12}$")  # an AWS account ID

# region prefix -> partition (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html)
_REGION_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
)


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    def _typed(self) -> tuple[str, str] | None:
        """(type, rest) of the resource, split at its first ``/`` (else its first ``:``); None without a type."""
        for sep in ("/", ":"):
            head, found, rest = self.resource.partition(sep)
            if found:
                return head, rest
        return None

    @property
    def resource_type(self) -> str:
        """``key`` of ``key/ID``, ``role`` of ``role/path/R``, ``alias`` of ``alias/x``; "" for a bare name."""
        typed = self._typed()
        return typed[0] if typed else ""

    @property
    def resource_id(self) -> str:
        """What follows the resource type (``ID`` of ``key/ID``); the whole resource when it has no type."""
        typed = self._typed()
        return typed[1] if typed else self.resource

    @property
    def name(self) -> str:
        """The last ``/`` segment of the resource (``R`` of ``role/path/R``)."""
        return self.resource.rsplit("/", 1)[-1]


def split(text: str | None) -> list[str] | None:
    """``["arn", partition, service, region, account, resource]``, or None when ``text`` is not an ARN
    (the fast form for hot loops; ``parse`` names the fields)."""
    if not isinstance(text, str) or not text.startswith("arn:"):  # untrusted input: any JSON value
        return None
    parts = text.split(":", 5)
    return parts if len(parts) == 6 else None


def parse(text: str | None) -> Arn | None:
    """The six fields of an ARN, or None when ``text`` is not one."""
    parts = split(text)
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5]) if parts else None


def is_arn(text: str | None) -> TypeGuard[str]:
    return parse(text) is not None


def is_key_arn(text: str | None) -> TypeGuard[str]:
    """A KMS key ARN: ``arn:P:kms:R:A:key/ID``."""
    parts = split(text)
    return bool(parts and parts[2] == "kms" and parts[5].startswith("key/"))


def is_alias_arn(text: str | None) -> TypeGuard[str]:
    """A KMS alias ARN: ``arn:P:kms:R:A:alias/NAME``."""
    parts = split(text)
    return bool(parts and parts[2] == "kms" and parts[5].startswith("alias/"))


def is_account_principal(value: str) -> bool:
    """A principal value that names a whole account (delegating to its IAM): its 12-digit ID, or its root
    ARN ``arn:P:iam::ACCOUNT:root``."""
    if ACCOUNT_RE.match(value):
        return True
    a = parse(value)
    return a is not None and a.service == "iam" and a.resource == "root"


def account_of(text: str | None) -> str | None:
    """The account field of an ARN (None when not an ARN or the field is empty, as in S3 ARNs)."""
    if not isinstance(text, str) or not text.startswith("arn:"):  # split() inlined: the engine asks this
        return None  # once per evaluation
    parts = text.split(":", 5)
    return parts[4] or None if len(parts) == 6 else None


def region_of(text: str | None) -> str | None:
    parts = split(text)
    return parts[3] or None if parts else None


def service_of(text: str | None) -> str | None:
    parts = split(text)
    return parts[2] or None if parts else None


def partition_of(text: str | None, default: str = DEFAULT_PARTITION) -> str:
    """The partition of an ARN; ``default`` when ``text`` is not one."""
    parts = split(text)
    return parts[1] if parts and parts[1] else default


def resource_of(text: str | None) -> str | None:
    parts = split(text)
    return parts[5] if parts else None


def partition_for_region(region: str | None) -> str:
    """The partition a region belongs to: ``cn-north-1`` -> ``aws-cn``, ``us-gov-west-1`` -> ``aws-us-gov``."""
    for prefix, partition in _REGION_PARTITIONS:
        if region and region.startswith(prefix):
            return partition
    return DEFAULT_PARTITION


def call_partition(caller_arn: str | None, region: str | None) -> str:
    """The partition of a call: its caller ARN's when that is an ARN, else its region's."""
    return partition_of(caller_arn, partition_for_region(region))


def build(service: str, resource: str, *, region: str = "", account: str = "", partition: str | None = None) -> str:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``; the partition defaults to the region's."""
    return str(Arn(partition or partition_for_region(region), service, region, account, resource))


def key_arn(key_id: str, region: str, account: str, partition: str | None = None) -> str:
    """The ARN of a KMS key from its ID, region and account."""
    return build("kms", f"key/{key_id}", region=region, account=account, partition=partition)


def alias_arn(alias: str, region: str, account: str, partition: str | None = None) -> str:
    """The ARN of a KMS alias (``alias/name``)."""
    return build("kms", alias, region=region, account=account, partition=partition)


def name_of(text: str | None) -> str | None:
    """The last ``/`` segment of an ARN's resource: the ID of a key ARN, the name of a role, user or policy
    ARN (``R`` of ``role/path/R``); None when ``text`` is not an ARN."""
    a = parse(text)
    return a.name if a else None


def bucket_arn(bucket: str, partition: str = DEFAULT_PARTITION) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def object_arn(bucket: str, key: str, partition: str = DEFAULT_PARTITION) -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


def bucket_of(text: str | None) -> str | None:
    """The bucket name of an S3 bucket or object ARN."""
    a = parse(text)
    if a is None or a.service != "s3" or a.account or a.region:
        return None
    return a.resource.split("/", 1)[0] or None


def iam_arn(account: str, resource: str, partition: str = DEFAULT_PARTITION) -> str:
    """``arn:P:iam::ACCOUNT:RESOURCE`` (``role/R``, ``user/U``, ``group/G``, ``policy/P``, ``root``)."""
    return f"arn:{partition}:iam::{account}:{resource}"


def root_arn(account: str, partition: str = DEFAULT_PARTITION) -> str:
    return iam_arn(account, "root", partition)


def role_arn(account: str, name: str, path: str = "/", partition: str = DEFAULT_PARTITION) -> str:
    return iam_arn(account, f"role{path or '/'}{name}", partition)


def assumed_role_arn(account: str, role: str, session: str, partition: str = DEFAULT_PARTITION) -> str:
    return f"arn:{partition}:sts::{account}:assumed-role/{role}/{session}"


def role_of_assumed_role(text: str | None) -> str | None:
    """``arn:P:sts::A:assumed-role/R/S`` -> ``arn:P:iam::A:role/R`` (the role's path is not in the session
    ARN, so this is the path-less form); None for any other ARN."""
    a = parse(text)
    if a is None or a.service != "sts" or not a.resource.startswith("assumed-role/"):
        return None
    bits = a.resource.split("/")
    if len(bits) < 2 or not bits[1]:
        return None
    return role_arn(a.account, bits[1], partition=a.partition)
