"""Building blocks for the sample scenarios: accounts, keys, policies, CloudTrail records, bundles.

Stdlib only and deterministic: every ID comes from uuid5/sha256 of the scenario slug and a name, every
timestamp is given by the scenario, gzip files have mtime 0 and no embedded file name, JSON is dumped
with a fixed key order. Re-running the generator produces byte-identical files.

The shapes copy real records (see ../shared/real_events/) and the AWS CLI's JSON output
(`aws <service> <command> --output json`: 4-space indent, policy documents of
get-account-authorization-details decoded into objects, KMS/S3/Organizations policies as strings).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NS = uuid.UUID("6b1f3f2e-8c0a-5a8e-9a53-6b6d73646961")  # namespace for every uuid5 of the sample trails
UTC = dt.UTC
TRAIL_NAME = "org-trail"

# --------------------------------------------------------------------------------------------- helpers


def h(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS, "/".join(parts)))


def b32(n: int, *parts: str) -> str:
    """Upper-case [A-Z2-7] string of length n (shape of AWS unique IDs and access key IDs)."""
    return base64.b32encode(hashlib.sha256("/".join(parts).encode()).digest()).decode()[:n]


def alnum(n: int, *parts: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    d = hashlib.sha256("/".join(parts).encode()).digest() * 2
    return "".join(alphabet[b % len(alphabet)] for b in d[:n])


def lower_alnum(n: int, *parts: str) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    d = hashlib.sha256("/".join(parts).encode()).digest() * 2
    return "".join(alphabet[b % len(alphabet)] for b in d[:n])


def account_id(*parts: str) -> str:
    return str(100000000000 + int(h("account", *parts), 16) % 899999999999)


def ts(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cli_date(t: dt.datetime, micro: bool = False) -> str:
    """Dates as AWS CLI v2 prints them (ISO 8601 with +00:00)."""
    t = t.astimezone(UTC)
    if micro:  # KMS timestamps carry milliseconds; Python's isoformat (the CLI's) prints them as microseconds
        t = t.replace(microsecond=(int(h("ms", t.isoformat()), 16) % 999 + 1) * 1000)
        return t.isoformat()
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def sts_expiration(t: dt.datetime) -> str:
    """responseElements.credentials.expiration as CloudTrail prints it: 'Nov 3, 2026, 9:12:40 AM'."""
    t = t.astimezone(UTC)
    hour = t.hour % 12 or 12
    return f"{t.strftime('%b')} {t.day}, {t.year}, {hour}:{t.strftime('%M:%S')} {'AM' if t.hour < 12 else 'PM'}"


def jackson(v: Any, ind: int = 0) -> str:
    """JSON as KMS returns policies created in the console (Jackson's pretty printer: ' : ', '[ {')."""
    if isinstance(v, dict):
        if not v:
            return "{ }"
        pad = "  " * (ind + 1)
        items = [f"{pad}{json.dumps(k)} : {jackson(x, ind + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * ind + "}"
    if isinstance(v, list):
        if not v:
            return "[ ]"
        return "[ " + ", ".join(jackson(x, ind) for x in v) + " ]"
    return json.dumps(v)


def compact(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


def policy(*statements: dict[str, Any], pid: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"Version": "2012-10-17"}
    if pid:
        doc["Id"] = pid
    doc["Statement"] = list(statements)
    return doc


def write_json(path: Path, obj: Any) -> None:
    """AWS CLI `--output json` style: 4-space indent, non-ASCII kept, trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def gz_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- model

USER_AGENTS = {
    "lambda-py": "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.145",
    "boto3": "Boto3/1.35.68 md/Botocore#1.35.68 ua/2.0 os/linux#6.1.115-126.197.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.10 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.68",
    "cli": "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#{cmd}",
    "java": "aws-sdk-java/2.29.15 Linux/5.10.228-219.884.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy",
    "go": "aws-sdk-go-v2/1.32.5 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/{svc}#1.37.6",
    "terraform": "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.76.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.4 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 api/{svc}#1.37.5",
    "console": "AWS Internal",
}


@dataclass
class ManagedPolicy:
    name: str
    arn: str
    document: dict[str, Any]
    policy_id: str
    created: dt.datetime
    aws_managed: bool = False
    version: str = "v1"
    path: str = "/"
    description: str | None = None


@dataclass
class Role:
    account: str
    name: str
    role_id: str
    created: dt.datetime
    trust: dict[str, Any]
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)  # managed policy ARNs
    boundary: str | None = None
    path: str = "/"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"


@dataclass
class User:
    account: str
    name: str
    user_id: str
    created: dt.datetime
    inline: dict[str, dict[str, Any]] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    boundary: str | None = None
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"


@dataclass
class Grant:
    grant_id: str
    grantee: str
    operations: list[str]
    created: dt.datetime
    name: str | None = None
    retiring: str | None = None
    constraints: dict[str, Any] | None = None
    issuing_account: str | None = None


@dataclass
class Key:
    account: str
    region: str
    key_id: str
    created: dt.datetime
    policy_text: str  # exactly what GetKeyPolicy returns
    description: str = ""
    state: str = "Enabled"
    manager: str = "CUSTOMER"
    aliases: list[str] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    deletion_date: dt.datetime | None = None
    pending_days: int | None = None
    key_material_id: str = ""
    tags: dict[str, str] | None = None  # list-resource-tags.json when set (bundles before kmsdiag kept tags: None)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:key/{self.key_id}"

    def alias_arn(self, alias: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:{alias}"

    @property
    def policy(self) -> dict[str, Any]:
        return json.loads(self.policy_text)


@dataclass
class Bucket:
    account: str
    name: str
    region: str
    policy: dict[str, Any] | None = None
    sse_key_arn: str | None = None  # None: SSE-S3
    bucket_key: bool = True


@dataclass
class Account:
    id: str
    alias: str
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    managed: dict[str, ManagedPolicy] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    skip_files: set[str] = field(default_factory=set)  # bundle files that were not collected (gaps)
    regions: set[str] = field(default_factory=lambda: {"us-east-1"})


AWS_MANAGED = {
    "AdministratorAccess": policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    "ReadOnlyAccess": policy(
        {
            "Sid": "ReadOnlyActions",
            "Effect": "Allow",
            "Action": [
                "ec2:Describe*",
                "s3:Get*",
                "s3:List*",
                "logs:Describe*",
                "logs:Get*",
                "iam:Get*",
                "iam:List*",
                "kms:Describe*",
                "kms:Get*",
                "kms:List*",
                "cloudtrail:Describe*",
                "cloudtrail:LookupEvents",
            ],
            "Resource": "*",
        }
    ),
    "AWSLambdaBasicExecutionRole": policy(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ),
    "AmazonS3ReadOnlyAccess": policy(
        {
            "Effect": "Allow",
            "Action": ["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*", "s3-object-lambda:List*"],
            "Resource": "*",
        }
    ),
    "AmazonSSMManagedInstanceCore": policy(
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeAssociation",
                "ssm:GetDeployablePatchSnapshotForInstance",
                "ssm:GetDocument",
                "ssm:DescribeDocument",
                "ssm:GetManifest",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:ListAssociations",
                "ssm:ListInstanceAssociations",
                "ssm:PutInventory",
                "ssm:PutComplianceItems",
                "ssm:PutConfigurePackageResult",
                "ssm:UpdateAssociationStatus",
                "ssm:UpdateInstanceAssociationStatus",
                "ssm:UpdateInstanceInformation",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
            ],
            "Resource": "*",
        },
    ),
}

TRUST = {
    "lambda": policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    "ec2": policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    "ecs": policy({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    "cfn": policy(
        {"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ),
}


def trust_account(account: str, external_id: str | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        st["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return policy(st)


# The SAML provider IAM Identity Center creates in every member account (its name ends in _DO_NOT_DELETE).
SSO_PROVIDER = "AWSSSO_5d1c0c3e8f7a2b61_DO_NOT_DELETE"


def trust_sso(account: str) -> dict[str, Any]:
    return policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{account}:saml-provider/{SSO_PROVIDER}"},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        }
    )


# The console's default key-administrator actions (the "Allow access for Key Administrators" statement).
KEY_ADMIN_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)


def default_key_policy(
    account: str, admins: list[str], users: list[str] | None = None, *, grants_for_users: bool = True
) -> dict[str, Any]:
    """The console's default key policy: root delegation, key administrators, key users."""
    st: list[dict[str, Any]] = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": admins if len(admins) > 1 else admins[0]},
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",
        },
    ]
    if users:
        principal = {"AWS": users if len(users) > 1 else users[0]}
        st.append(
            {
                "Sid": "Allow use of the key",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
            }
        )
        if grants_for_users:
            st.append(
                {
                    "Sid": "Allow attachment of persistent resources",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                }
            )
    return policy(*st, pid="key-consolepolicy-3")


def aws_s3_key_policy(account: str, region: str) -> dict[str, Any]:
    return policy(
        {
            "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": f"s3.{region}.amazonaws.com"}
            },
        },
        {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
            "Resource": "*",
        },
        pid="auto-s3-2",
    )


# --------------------------------------------------------------------------------------------- principals


@dataclass
class Session:
    """A set of credentials in use: an assumed-role session or an IAM user's access key."""

    account: str
    kind: str  # role | user
    name: str  # role or user name
    unique_id: str  # AROA.../AIDA...
    session_name: str | None
    access_key: str
    created: dt.datetime
    ip: str
    ua: str
    mfa: bool = False
    console: bool = False
    vpce: str | None = None  # calls go through this VPC endpoint (vpcEndpointId)
    path: str = "/"

    @property
    def arn(self) -> str:
        if self.kind == "role":
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.session_name}"
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"

    @property
    def iam_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:{self.kind}{self.path}{self.name}"

    @property
    def principal_id(self) -> str:
        return f"{self.unique_id}:{self.session_name}" if self.kind == "role" else self.unique_id

    def identity(self, invoked_by: str | None = None) -> dict[str, Any]:
        if self.kind == "user":
            ident: dict[str, Any] = {
                "type": "IAMUser",
                "principalId": self.unique_id,
                "arn": self.iam_arn,
                "accountId": self.account,
                "accessKeyId": self.access_key,
                "userName": self.name,
            }
        else:
            ident = {
                "type": "AssumedRole",
                "principalId": self.principal_id,
                "arn": self.arn,
                "accountId": self.account,
                "accessKeyId": self.access_key,
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": self.unique_id,
                        "arn": self.iam_arn,
                        "accountId": self.account,
                        "userName": self.name,
                    },
                    "attributes": {
                        "creationDate": ts(self.created),
                        "mfaAuthenticated": "true" if self.mfa else "false",
                    },
                },
            }
        if invoked_by:
            ident["invokedBy"] = invoked_by
        return ident


# --------------------------------------------------------------------------------------------- organizations


@dataclass
class OrgPolicy:
    policy_id: str
    name: str
    ptype: str  # SERVICE_CONTROL_POLICY | RESOURCE_CONTROL_POLICY
    content: str
    targets: list[str]
    aws_managed: bool = False
    description: str = ""


@dataclass
class Org:
    org_id: str
    root_id: str
    master: str
    ous: dict[str, tuple[str, str]] = field(default_factory=dict)  # ou id -> (name, parent id)
    parent: dict[str, str] = field(default_factory=dict)  # account -> parent id
    names: dict[str, str] = field(default_factory=dict)  # account -> account name
    policies: dict[str, OrgPolicy] = field(default_factory=dict)

    def arn_of(self, target: str) -> str:
        if target.startswith("r-"):
            return f"arn:aws:organizations::{self.master}:root/{self.org_id}/{target}"
        if target.startswith("ou-"):
            return f"arn:aws:organizations::{self.master}:ou/{self.org_id}/{target}"
        return f"arn:aws:organizations::{self.master}:account/{self.org_id}/{target}"

    def name_of(self, target: str) -> str:
        if target.startswith("r-"):
            return "Root"
        if target.startswith("ou-"):
            return self.ous[target][0]
        return self.names.get(target, target)

    def path(self, account: str) -> list[str]:
        """account, its OUs, the root (child first)."""
        out = [account]
        cur = self.parent[account]
        while True:
            out.append(cur)
            if cur.startswith("r-"):
                return out
            cur = self.ous[cur][1]


# --------------------------------------------------------------------------------------------- scenario

DENY_REASON = {
    "resource": "because no resource-based policy allows the {action} action",
    "identity": "because no identity-based policy allows the {action} action",
    "deny-resource": "with an explicit deny in a resource-based policy",
    "deny-identity": "with an explicit deny in an identity-based policy",
    "deny-scp": "with an explicit deny in a service control policy",
    "deny-rcp": "with an explicit deny in a resource control policy",
    "scp": "because no service control policy allows the {action} action",
    "rcp": "because no resource control policy allows the {action} action",
    "boundary": "because no permissions boundary allows the {action} action",
    "session": "because no session policy allows the {action} action",
}


def denied_message(principal_arn: str, action: str, resource: str | None, why: str | None) -> str:
    """AWS's AccessDenied wording. resource None: the 'resource associated with this ciphertext' form."""
    on = f"on resource: {resource}" if resource else "on the resource associated with this ciphertext"
    msg = f"User: {principal_arn} is not authorized to perform: {action} {on}"
    if why:
        msg += " " + DENY_REASON[why].format(action=action)
    return msg


RECORD_ORDER = [
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "serviceEventDetails",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
]

KMS_READ_ONLY = {
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "ReEncrypt",
    "ListGrants",
    "GetKeyPolicy",
    "ListAliases",
    "ListKeys",
}


class Scenario:
    """One story: its accounts, policies (the bundle), CloudTrail records and labelled failures."""

    def __init__(self, slug: str, title: str, base: dt.datetime) -> None:
        self.slug = slug
        self.title = title
        self.base = base
        self.accounts: dict[str, Account] = {}
        self.org: Org | None = None
        self.records: list[tuple[str, dict[str, Any]]] = []  # (account whose trail holds it, record)
        self.expected: dict[str, dict[str, Any]] = {}
        self.collected_at: dt.datetime = base
        self.readme = ""
        self.readme_vars: dict[str, str] = {}  # "<name>" in the README -> value (account aliases are added)
        self._n = 0
        self.last_copies: list[str] = []  # eventIDs of the last kms() call: the caller's copy, then the owner's

    # ---- ids
    def nid(self, kind: str) -> str:
        self._n += 1
        return uid(self.slug, kind, str(self._n))

    def at(self, minutes: float) -> dt.datetime:
        return self.base + dt.timedelta(minutes=minutes)

    # ---- world
    def account(self, alias: str, acct_id: str | None = None) -> Account:
        a = Account(id=acct_id or account_id(self.slug, alias), alias=alias)
        self.accounts[a.id] = a
        return a

    def aws_policy(self, acct: Account, name: str) -> str:
        arn = f"arn:aws:iam::aws:policy/{name}"
        if arn not in acct.managed:
            acct.managed[arn] = ManagedPolicy(
                name,
                arn,
                AWS_MANAGED[name],
                "ANPA" + b32(17, "aws-policy", name),
                dt.datetime(2015, 2, 6, 18, 39, 46, tzinfo=UTC),
                aws_managed=True,
                version="v3",
            )
        return arn

    def managed_policy(
        self,
        acct: Account,
        name: str,
        doc: dict[str, Any],
        created: dt.datetime | None = None,
        description: str | None = None,
    ) -> str:
        arn = f"arn:aws:iam::{acct.id}:policy/{name}"
        acct.managed[arn] = ManagedPolicy(
            name,
            arn,
            doc,
            "ANPA" + b32(17, self.slug, acct.id, "policy", name),
            created or self.base - dt.timedelta(days=120),
            description=description,
        )
        return arn

    def role(
        self,
        acct: Account,
        name: str,
        trust: dict[str, Any],
        *,
        inline: dict[str, dict[str, Any]] | None = None,
        attached: list[str] | None = None,
        boundary: str | None = None,
        created: dt.datetime | None = None,
        path: str = "/",
        description: str | None = None,
        role_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Role:
        r = Role(
            acct.id,
            name,
            role_id or "AROA" + b32(17, self.slug, acct.id, "role", name),
            created or self.base - dt.timedelta(days=200),
            trust,
            inline or {},
            attached or [],
            boundary,
            path,
            description,
            dict(tags or {}),
        )
        acct.roles[name] = r
        return r

    def user(
        self,
        acct: Account,
        name: str,
        *,
        inline: dict[str, dict[str, Any]] | None = None,
        attached: list[str] | None = None,
        created: dt.datetime | None = None,
    ) -> User:
        u = User(
            acct.id,
            name,
            "AIDA" + b32(17, self.slug, acct.id, "user", name),
            created or self.base - dt.timedelta(days=400),
            inline or {},
            attached or [],
        )
        acct.users[name] = u
        return u

    def key(
        self,
        acct: Account,
        name: str,
        key_policy: dict[str, Any],
        *,
        region: str = "us-east-1",
        style: str = "jackson",
        description: str = "",
        manager: str = "CUSTOMER",
        alias: str | None = None,
        created: dt.datetime | None = None,
        state: str = "Enabled",
    ) -> Key:
        text = (
            jackson(key_policy)
            if style == "jackson"
            else compact(key_policy)
            if style == "compact"
            else json.dumps(key_policy, indent=2)
        )
        k = Key(
            acct.id,
            region,
            uid(self.slug, acct.id, region, "key", name),
            created or self.base - dt.timedelta(days=300),
            text,
            description,
            state,
            manager,
            key_material_id=h(self.slug, "material", name),
        )
        if alias:
            k.aliases.append(alias)
        acct.keys[k.key_id] = k
        acct.regions.add(region)
        return k

    def bucket(
        self,
        acct: Account,
        name: str,
        *,
        region: str = "us-east-1",
        bucket_policy: dict[str, Any] | None = None,
        sse_key_arn: str | None = None,
    ) -> Bucket:
        b = Bucket(acct.id, name, region, bucket_policy, sse_key_arn)
        acct.buckets[name] = b
        return b

    def session(
        self,
        who: Role | User,
        session_name: str | None,
        created: dt.datetime,
        *,
        ip: str,
        ua: str,
        mfa: bool = False,
        console: bool = False,
        vpce: str | None = None,
    ) -> Session:
        if isinstance(who, Role):
            return Session(
                who.account,
                "role",
                who.name,
                who.role_id,
                session_name,
                "ASIA" + b32(16, self.slug, who.arn, session_name or "", ts(created)),
                created,
                ip,
                ua,
                mfa,
                console,
                vpce,
                who.path,
            )
        return Session(
            who.account,
            "user",
            who.name,
            who.user_id,
            None,
            "AKIA" + b32(16, self.slug, who.arn),
            created,
            ip,
            ua,
            mfa,
            console,
            vpce,
            who.path,
        )

    def setup_org(self, master: str) -> Org:
        oid = "o-" + lower_alnum(10, self.slug, "org")
        root = "r-" + lower_alnum(4, self.slug, "root")
        self.org = Org(oid, root, master)
        full = OrgPolicy(
            "p-FullAWSAccess",
            "FullAWSAccess",
            "SERVICE_CONTROL_POLICY",
            compact(policy({"Effect": "Allow", "Action": "*", "Resource": "*"})),
            [root],
            True,
            "Allows access to every operation",
        )
        rfull = OrgPolicy(
            "p-RCPFullAWSAccess",
            "RCPFullAWSAccess",
            "RESOURCE_CONTROL_POLICY",
            compact(policy({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})),
            [root],
            True,
            "Allows access to every operation",
        )
        self.org.policies[full.policy_id] = full
        self.org.policies[rfull.policy_id] = rfull
        return self.org

    def add_ou(self, name: str, parent: str | None = None) -> str:
        assert self.org
        parent = parent or self.org.root_id
        ou = f"ou-{self.org.root_id[2:]}-{lower_alnum(8, self.slug, 'ou', name)}"
        self.org.ous[ou] = (name, parent)
        # FullAWSAccess and RCPFullAWSAccess are attached to every OU and account by default
        self.org.policies["p-FullAWSAccess"].targets.append(ou)
        self.org.policies["p-RCPFullAWSAccess"].targets.append(ou)
        return ou

    def place(self, acct: Account, parent: str, name: str) -> None:
        assert self.org
        self.org.parent[acct.id] = parent
        self.org.names[acct.id] = name
        self.org.policies["p-FullAWSAccess"].targets.append(acct.id)
        self.org.policies["p-RCPFullAWSAccess"].targets.append(acct.id)

    def org_policy(
        self, name: str, ptype: str, doc: dict[str, Any], targets: list[str], description: str = ""
    ) -> OrgPolicy:
        assert self.org
        p = OrgPolicy(
            "p-" + lower_alnum(8, self.slug, "orgpolicy", name),
            name,
            ptype,
            json.dumps(doc, indent=4),
            targets,
            False,
            description,
        )
        self.org.policies[p.policy_id] = p
        return p

    def expect(self, event_id: str, verdict: str, codes: list[str]) -> None:
        assert verdict in codes
        self.expected[event_id] = {"verdict": verdict, "codes": codes}

    # ---- records
    def record(
        self,
        trail: str,
        *,
        t: dt.datetime,
        source: str,
        name: str,
        region: str,
        identity: dict[str, Any],
        ip: str,
        ua: str,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None = None,
        error: tuple[str, str | None] | None = None,
        resources: list[dict[str, Any]] | None = None,
        read_only: bool | None = None,
        version: str = "1.09",
        shared: str | None = None,
        extra: dict[str, Any] | None = None,
        category: str = "Management",
        event_type: str = "AwsApiCall",
        tls: bool = True,
        vpce: tuple[str, str] | None = None,
        event_id: str | None = None,
        request_id: str | None = None,
        console: bool = False,
    ) -> dict[str, Any]:
        r: dict[str, Any] = {
            "eventVersion": version,
            "userIdentity": identity,
            "eventTime": ts(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        if error:
            r["errorCode"] = error[0]
            if error[1] is not None:
                r["errorMessage"] = error[1]
        r["requestParameters"] = request
        r["responseElements"] = response
        if extra:
            r.update(extra)
        r["requestID"] = request_id or self.nid("request")
        r["eventID"] = event_id or self.nid("event")
        if read_only is not None:
            r["readOnly"] = read_only
        if resources is not None:
            r["resources"] = resources
        r["eventType"] = event_type
        r["managementEvent"] = category == "Management"
        r["recipientAccountId"] = trail
        if shared:
            r["sharedEventID"] = shared
        if vpce:
            r["vpcEndpointId"], r["vpcEndpointAccountId"] = vpce
        r["eventCategory"] = category
        if tls:
            svc = source.split(".")[0]
            host = f"{svc}.amazonaws.com" if svc in {"iam", "organizations"} else f"{svc}.{region}.amazonaws.com"
            r["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host,
            }
        if console:
            r["sessionCredentialFromConsole"] = "true"
        ordered = {k: r[k] for k in RECORD_ORDER if k in r}
        assert len(ordered) == len(r), set(r) - set(ordered)
        self.records.append((trail, ordered))
        return ordered

    def call(
        self,
        s: Session,
        t: dt.datetime,
        source: str,
        name: str,
        request: dict[str, Any] | None,
        *,
        region: str = "us-east-1",
        response: dict[str, Any] | None = None,
        error: tuple[str, str | None] | None = None,
        resources: list[dict[str, Any]] | None = None,
        read_only: bool | None = None,
        version: str = "1.09",
        invoked_by: str | None = None,
    ) -> dict[str, Any]:
        """A call made with one session, logged in the caller's own account (same-account or global APIs)."""
        return self.record(
            s.account,
            t=t,
            source=source,
            name=name,
            region=region,
            identity=s.identity(invoked_by),
            ip=invoked_by or s.ip,
            ua=invoked_by
            or s.ua.replace("{cmd}", f"{source.split('.')[0]}.{name.lower()}").replace("{svc}", source.split(".")[0]),
            request=request,
            response=response,
            error=error,
            resources=resources,
            read_only=read_only,
            version=version,
            tls=invoked_by is None,
            vpce=(s.vpce, s.account) if s.vpce and invoked_by is None else None,
            console=s.console,
        )

    def kms(
        self,
        s: Session,
        t: dt.datetime,
        op: str,
        key: Key | None,
        *,
        key_ref: str | None = "arn",
        context: dict[str, str] | None = None,
        region: str | None = None,
        error: tuple[str, str | None] | None = None,
        invoked_by: str | None = None,
        extra_request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        resource_arn: str | None = None,
    ) -> str:
        """A KMS call. Returns the eventID of the caller's copy.

        Cross-account: a success or a non-access error is logged in both accounts with one sharedEventID
        (the key owner's copy has userIdentity type AWSAccount); an AccessDenied only in the caller's.
        key_ref: 'arn', 'id', an alias name ('alias/...'), 'alias-arn' or None (no keyId, e.g. Decrypt).
        """
        region = region or (key.region if key else "us-east-1")
        req: dict[str, Any] = {}
        if op == "Decrypt":
            req["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        ref: str | None
        if key_ref == "arn":
            ref = key.arn if key else None
        elif key_ref == "id":
            ref = key.key_id if key else None
        elif key_ref == "alias-arn":
            ref = key.alias_arn(key.aliases[0]) if key else None
        else:
            ref = key_ref
        if ref is not None:
            req["keyId"] = ref
        if op in {"GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}:
            req["keySpec"] = "AES_256"
        if op == "Encrypt":
            req["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        if context is not None:
            req["encryptionContext"] = context
        if extra_request:
            req.update(extra_request)
        # resources: the key that KMS resolved (absent when the key does not exist in this region)
        res_arn = resource_arn or (key.arn if key and (error is None or error[0] != "NotFoundException") else None)
        resources = [{"accountId": res_arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": res_arn}] if res_arn else None
        extra = None
        if (
            error is None
            and key
            and op in {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt"}
        ):
            extra = {"additionalEventData": {"keyMaterialId": key.key_material_id}}
        owner = key.account if key else s.account
        cross = owner != s.account and (error is None or error[0] not in {"AccessDenied", "AccessDeniedException"})
        shared = self.nid("shared") if cross else None
        request_id = self.nid("request")
        ua = invoked_by or s.ua.replace("{cmd}", f"kms.{_kebab(op)}").replace("{svc}", "kms")
        common: dict[str, Any] = dict(
            t=t,
            source="kms.amazonaws.com",
            name=op,
            region=region,
            ip=invoked_by or s.ip,
            ua=ua,
            request=req,
            response=response,
            error=error,
            resources=resources,
            read_only=op in KMS_READ_ONLY,
            version="1.11",
            extra=extra,
            tls=invoked_by is None,
            request_id=request_id,
        )
        vpce = (s.vpce, s.account) if s.vpce and invoked_by is None else None
        mine = self.record(
            s.account, identity=s.identity(invoked_by), shared=shared, vpce=vpce, console=s.console, **common
        )
        self.last_copies = [str(mine["eventID"])]
        if cross:
            owner_copy: dict[str, Any] = dict(
                common, tls=False
            )  # the key owner's copy carries no TLS details of the caller's connection
            theirs = self.record(
                owner,
                identity={"type": "AWSAccount", "principalId": s.principal_id, "accountId": s.account},
                shared=shared,
                vpce=vpce,
                **owner_copy,
            )
            self.last_copies.append(str(theirs["eventID"]))
        return str(mine["eventID"])

    def _sts_credentials(self, target: Session, t: dt.datetime, duration: int) -> dict[str, Any]:
        """The credentials and assumed-role user an STS call returned for `target`'s session."""
        return {
            "credentials": {
                "accessKeyId": target.access_key,
                "sessionToken": "IQoJb3JpZ2luX2VjE" + alnum(120, self.slug, "token", target.access_key),
                "expiration": sts_expiration(t + dt.timedelta(seconds=duration)),
            },
            "assumedRoleUser": {"assumedRoleId": target.principal_id, "arn": target.arn},
        }

    def assume_role(
        self,
        caller: Session | str,
        target: Session,
        t: dt.datetime,
        *,
        session_policy: dict[str, Any] | None = None,
        duration: int = 3600,
        region: str = "us-east-1",
        tags: dict[str, str] | None = None,
        transitive: list[str] | None = None,
    ) -> str:
        """sts:AssumeRole that created `target`'s credentials (caller: a Session, or a service principal);
        `tags`/`transitive`: session tags passed to the call, as CloudTrail logs them."""
        req: dict[str, Any] = {"roleArn": target.iam_arn, "roleSessionName": target.session_name}
        if session_policy is not None:
            req["policy"] = json.dumps(session_policy, indent=2)
        req["durationSeconds"] = duration
        if tags:
            req["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if transitive:
            req["transitiveTagKeys"] = list(transitive)
        resp: dict[str, Any] = {
            **self._sts_credentials(target, t, duration),
        }
        if session_policy is not None or tags:
            resp["packedPolicySize"] = 7
        resources = [{"accountId": target.account, "type": "AWS::IAM::Role", "ARN": target.iam_arn}]
        if isinstance(caller, str):
            r = self.record(
                target.account,
                t=t,
                source="sts.amazonaws.com",
                name="AssumeRole",
                region=region,
                identity={"type": "AWSService", "invokedBy": caller},
                ip=caller,
                ua=caller,
                request=req,
                response=resp,
                resources=resources,
                read_only=True,
                version="1.08",
                tls=False,
            )
            return str(r["eventID"])
        cross = caller.account != target.account
        shared = self.nid("shared")
        common: dict[str, Any] = dict(
            t=t,
            source="sts.amazonaws.com",
            name="AssumeRole",
            region=region,
            ip=caller.ip,
            ua=caller.ua.replace("{cmd}", "sts.assume-role").replace("{svc}", "sts"),
            request=req,
            response=resp,
            resources=resources,
            read_only=True,
            version="1.08",
            request_id=self.nid("request"),
        )
        mine = self.record(caller.account, identity=caller.identity(), shared=shared if cross else None, **common)
        if cross:
            self.record(
                target.account,
                identity={"type": "AWSAccount", "principalId": caller.principal_id, "accountId": caller.account},
                shared=shared,
                **common,
            )
        return str(mine["eventID"])

    def assume_role_with_saml(
        self, target: Session, t: dt.datetime, *, provider: str, duration: int = 43200, region: str = "us-east-1"
    ) -> str:
        """sts:AssumeRoleWithSAML by IAM Identity Center that issued `target`'s credentials (no session policy
        passed: a permission set becomes the role's own policies). Shaped after a real record published by
        Aidan Steele (aidansteele/aidansteele.github.io, docs/posts/security/
        apps-can-now-impersonate-human-access-to-aws-via-iam-identity-center.md, 2026-07-01)."""
        qualifier = b32(27, self.slug, "saml", target.account) + "="
        subject = target.session_name or target.name
        provider_arn = f"arn:aws:iam::{target.account}:saml-provider/{provider}"
        req: dict[str, Any] = {
            "sAMLAssertionID": "_" + uid(self.slug, "saml-assertion", target.access_key),
            "roleSessionName": subject,
            "roleArn": target.iam_arn,
            "principalArn": provider_arn,
            "durationSeconds": duration,
        }
        resp: dict[str, Any] = {
            **self._sts_credentials(target, t, duration),
            "subject": subject,
            "subjectType": "persistent",
            "issuer": f"https://portal.sso.{region}.amazonaws.com/saml/assertion/" + alnum(40, self.slug, "issuer"),
            "audience": "https://signin.aws.amazon.com/saml",
            "nameQualifier": qualifier,
        }
        r = self.record(
            target.account,
            t=t,
            source="sts.amazonaws.com",
            name="AssumeRoleWithSAML",
            region=region,
            identity={
                "type": "SAMLUser",
                "principalId": f"{qualifier}:{subject}",
                "userName": subject,
                "identityProvider": qualifier,
            },
            ip="13.239.101.254",
            ua="aws-sdk-java/2.46.14 md/io#sync md/http#Apache md/internal ua/2.1 api/STS#2.46.x os/Linux lang/java#17.0.19",
            request=req,
            response=resp,
            resources=[
                {"accountId": target.account, "type": "AWS::IAM::Role", "ARN": target.iam_arn},
                {"accountId": target.account, "type": "AWS::IAM::SAMLProvider", "ARN": provider_arn},
            ],
            read_only=True,
            version="1.11",
            request_id=self.nid("request"),
        )
        return str(r["eventID"])

    # ---- policy-change events (the history)
    def put_key_policy(
        self, s: Session, t: dt.datetime, key: Key, new_policy: dict[str, Any] | str, *, invoked_by: str | None = None
    ) -> str:
        text = new_policy if isinstance(new_policy, str) else jackson(new_policy)
        r = self.call(
            s,
            t,
            "kms.amazonaws.com",
            "PutKeyPolicy",
            {
                "keyId": key.arn if invoked_by else key.key_id,
                "policyName": "default",
                "policy": text,
                "bypassPolicyLockoutSafetyCheck": False,
            },
            region=key.region,
            resources=[{"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}],
            read_only=False,
            version="1.11",
            invoked_by=invoked_by,
        )
        return str(r["eventID"])

    def put_role_policy(self, s: Session, t: dt.datetime, role: Role, name: str, doc: dict[str, Any]) -> str:
        r = self.call(
            s,
            t,
            "iam.amazonaws.com",
            "PutRolePolicy",
            {"roleName": role.name, "policyName": name, "policyDocument": json.dumps(doc, indent=4)},
            read_only=False,
            version="1.08",
        )
        return str(r["eventID"])

    # ---- noise
    def noise(
        self,
        s: Session,
        start: dt.datetime,
        minutes: int,
        n: int,
        *,
        region: str = "us-east-1",
        seed: str = "",
        kinds: tuple[str, ...] = ("ec2", "ssm", "logs", "sts", "s3", "dynamodb", "lambda", "ecr", "cloudwatch", "sqs"),
    ) -> None:
        """Background calls of other services (what fills real trails)."""
        import random

        rnd = random.Random(h(self.slug, "noise", s.arn, seed))
        for i in range(n):
            t = start + dt.timedelta(seconds=rnd.randint(0, minutes * 60))
            kind = rnd.choice(kinds)
            acct = s.account
            if kind == "ec2":
                self.call(
                    s,
                    t,
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    {
                        "instancesSet": {},
                        "filterSet": {
                            "items": [{"name": "tag:Environment", "valueSet": {"items": [{"value": "prod"}]}}]
                        },
                    },
                    region=region,
                    read_only=True,
                )
            elif kind == "ssm":
                self.call(
                    s,
                    t,
                    "ssm.amazonaws.com",
                    "GetParameter",
                    {
                        "name": f"/app/{rnd.choice(['feature-flags', 'batch-size', 'endpoint'])}",
                        "withDecryption": False,
                    },
                    region=region,
                    read_only=True,
                )
            elif kind == "logs":
                self.call(
                    s,
                    t,
                    "logs.amazonaws.com",
                    "CreateLogStream",
                    {
                        "logGroupName": f"/aws/app/{s.name.lower()}",
                        "logStreamName": f"2026/{t:%m/%d}/[$LATEST]{h(str(i), seed)[:32]}",
                    },
                    region=region,
                    read_only=False,
                )
            elif kind == "sts":
                self.call(
                    s, t, "sts.amazonaws.com", "GetCallerIdentity", None, region=region, read_only=True, version="1.08"
                )
            elif kind == "s3":
                self.call(
                    s,
                    t,
                    "s3.amazonaws.com",
                    "ListBuckets",
                    {"Host": f"s3.{region}.amazonaws.com"},
                    region=region,
                    read_only=True,
                )
            elif kind == "dynamodb":
                self.call(
                    s,
                    t,
                    "dynamodb.amazonaws.com",
                    "DescribeTable",
                    {"tableName": rnd.choice(["jobs", "checkpoints", "tenants"])},
                    region=region,
                    read_only=True,
                    version="1.08",
                )
            elif kind == "lambda":
                self.call(
                    s,
                    t,
                    "lambda.amazonaws.com",
                    "ListFunctions20150331",
                    None,
                    region=region,
                    read_only=True,
                    version="1.08",
                )
            elif kind == "ecr":
                self.call(
                    s,
                    t,
                    "ecr.amazonaws.com",
                    "GetAuthorizationToken",
                    {"registryIds": [acct]},
                    region=region,
                    read_only=True,
                    version="1.08",
                )
            elif kind == "cloudwatch":
                self.call(
                    s,
                    t,
                    "monitoring.amazonaws.com",
                    "DescribeAlarms",
                    {"alarmNamePrefix": "app-"},
                    region=region,
                    read_only=True,
                    version="1.08",
                )
            else:
                self.call(
                    s,
                    t,
                    "sqs.amazonaws.com",
                    "GetQueueAttributes",
                    {
                        "queueUrl": f"https://sqs.{region}.amazonaws.com/{acct}/jobs",
                        "attributeNames": ["ApproximateNumberOfMessages"],
                    },
                    region=region,
                    read_only=True,
                    version="1.08",
                )

    def secret_read(self, s: Session, t: dt.datetime, key: Key, secret: str) -> None:
        """Secrets Manager GetSecretValue and the KMS Decrypt it makes for the caller (successful noise)."""
        arn = f"arn:aws:secretsmanager:{key.region}:{s.account}:secret:{secret}-{alnum(6, self.slug, secret)}"
        self.call(
            s,
            t,
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            {"secretId": secret},
            region=key.region,
            read_only=True,
            version="1.08",
        )
        self.kms(
            s,
            t + dt.timedelta(milliseconds=40),
            "Decrypt",
            key,
            key_ref=None,
            context={"SecretARN": arn, "SecretVersionId": uid(self.slug, secret, "version")},
            invoked_by="secretsmanager.amazonaws.com",
        )


def _kebab(name: str) -> str:
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i:
            out += "-"
        out += c.lower()
    return out


UA = USER_AGENTS
