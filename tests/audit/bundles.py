"""Small evidence bundles for check and audit tests, written file by file exactly as the AWS CLI prints
each call (DESIGN.md section 5), then loaded with the collection's own bundle reader."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diag.collect.bundle import read_bundle
from diag.collect.snapshot import load_bundle

KEY_ACCOUNT = "111111111111"
CALLER_ACCOUNT = "222222222222"
OTHER_ACCOUNT = "333333333333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{KEY_ACCOUNT}:key/{KEY_ID}"
ROLE_ARN = f"arn:aws:iam::{CALLER_ACCOUNT}:role/DataProcessingRole"
ROOT_111 = f"arn:aws:iam::{KEY_ACCOUNT}:root"


def root_statement(account: str = KEY_ACCOUNT) -> dict[str, Any]:
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@dataclass
class BundleBuilder:
    """Accumulates AWS-CLI-shaped documents; ``write`` saves them, ``load`` loads them as one snapshot."""

    collected_at: str = "2026-11-28T12:00:00Z"
    files: dict[str, Any] = field(default_factory=dict)
    aliases: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    iam: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def key(
        self,
        key_id: str = KEY_ID,
        *,
        account: str = KEY_ACCOUNT,
        region: str = REGION,
        policy_doc: dict[str, Any] | None = None,
        state: str = "Enabled",
        manager: str = "CUSTOMER",
        aliases: tuple[str, ...] = (),
        grants: list[dict[str, Any]] | None = None,
        deletion_date: str | None = None,
    ) -> str:
        arn = f"arn:aws:kms:{region}:{account}:key/{key_id}"
        base = f"{account}/kms/{region}/{key_id}"
        meta: dict[str, Any] = {
            "AWSAccountId": account,
            "KeyId": key_id,
            "Arn": arn,
            "CreationDate": "2026-01-01T10:00:00+00:00",
            "Enabled": state == "Enabled",
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": state,
            "Origin": "AWS_KMS",
            "KeyManager": manager,
            "KeySpec": "SYMMETRIC_DEFAULT",
            "MultiRegion": False,
        }
        if deletion_date:
            meta["DeletionDate"] = deletion_date
        self.files[f"{base}/describe-key.json"] = {"KeyMetadata": meta}
        doc = policy_doc if policy_doc is not None else policy(root_statement(account))
        self.files[f"{base}/get-key-policy.json"] = {"Policy": json.dumps(doc), "PolicyName": "default"}
        self.files[f"{base}/list-grants.json"] = {"Grants": grants or []}
        for a in aliases:
            self.aliases.setdefault((account, region), []).append(
                {"AliasName": a, "AliasArn": f"arn:aws:kms:{region}:{account}:{a}", "TargetKeyId": key_id}
            )
        self.aliases.setdefault((account, region), [])
        return arn

    def _iam(self, account: str) -> dict[str, list[Any]]:
        return self.iam.setdefault(
            account, {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        )

    def role(
        self,
        name: str,
        *,
        account: str = CALLER_ACCOUNT,
        inline: dict[str, dict[str, Any]] | None = None,
        managed: tuple[str, ...] = (),
        role_id: str | None = None,
        path: str = "/",
    ) -> str:
        arn = f"arn:aws:iam::{account}:role{path}{name}"
        self._iam(account)["RoleDetailList"].append(
            {
                "Path": path,
                "RoleName": name,
                "RoleId": role_id or ("AROA" + (name.upper() + "X" * 17)[:17]),
                "Arn": arn,
                "CreateDate": "2026-01-01T09:00:00+00:00",
                "AssumeRolePolicyDocument": policy(
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ),
                "InstanceProfileList": [],
                "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
                "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in managed],
                "Tags": [],
                "RoleLastUsed": {},
            }
        )
        return arn

    def user(self, name: str, *, account: str = CALLER_ACCOUNT, inline: dict[str, dict[str, Any]] | None = None) -> str:
        arn = f"arn:aws:iam::{account}:user/{name}"
        self._iam(account)["UserDetailList"].append(
            {
                "Path": "/",
                "UserName": name,
                "UserId": "AIDA" + (name.upper() + "Y" * 17)[:17],
                "Arn": arn,
                "CreateDate": "2026-01-01T09:00:00+00:00",
                "UserPolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
                "GroupList": [],
                "AttachedManagedPolicies": [],
                "Tags": [],
            }
        )
        return arn

    def managed_policy(self, name: str, doc: dict[str, Any], *, account: str = CALLER_ACCOUNT) -> str:
        arn = f"arn:aws:iam::{account}:policy/{name}"
        self._iam(account)["Policies"].append(
            {
                "PolicyName": name,
                "PolicyId": "ANPA" + (name.upper() + "Z" * 17)[:17],
                "Arn": arn,
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": 1,
                "IsAttachable": True,
                "PolicyVersionList": [
                    {
                        "Document": doc,
                        "VersionId": "v1",
                        "IsDefaultVersion": True,
                        "CreateDate": "2026-01-01T09:00:00+00:00",
                    }
                ],
            }
        )
        return arn

    def account(self, account: str) -> None:
        """Make sure the account has IAM (possibly empty) in the bundle."""
        self._iam(account)

    def write(self, root: Path) -> Path:
        def put(rel: str, doc: Any) -> None:
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")

        put("manifest.json", {"collected_at": self.collected_at})
        for rel, doc in self.files.items():
            put(rel, doc)
        for (account, region), items in self.aliases.items():
            put(f"{account}/kms/{region}/list-aliases.json", {"Aliases": items})
        accounts = {rel.split("/", 1)[0] for rel in self.files} | set(self.iam)
        for account, doc in self.iam.items():
            put(f"{account}/iam/get-account-authorization-details.json", doc)
        for account in accounts:
            entries = [
                {
                    "call": "organizations describe-organization",
                    "resource": account,
                    "error": "AWSOrganizationsNotInUseException",
                },
                *self.errors.get(account, []),
            ]
            put(f"{account}/errors.json", entries)
        return root

    def load(self, con: Any, root: Path) -> int:
        return load_bundle(con, read_bundle(self.write(root)))


def grant(
    grantee: str,
    operations: list[str],
    *,
    grant_id: str = "g" * 64,
    created: str = "2026-11-01T10:00:00+00:00",
    key_arn: str = KEY_ARN,
    constraints: dict[str, Any] | None = None,
    retiring: str | None = None,
) -> dict[str, Any]:
    g: dict[str, Any] = {
        "KeyId": key_arn,
        "GrantId": grant_id,
        "Name": "",
        "CreationDate": created,
        "GranteePrincipal": grantee,
        "IssuingAccount": f"arn:aws:iam::{key_arn.split(':')[4]}:root",
        "Operations": operations,
    }
    if constraints:
        g["Constraints"] = constraints
    if retiring:
        g["RetiringPrincipal"] = retiring
    return g
