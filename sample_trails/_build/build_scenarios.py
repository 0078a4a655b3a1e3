"""Generate every scenario of sample_trails/ (DESIGN.md section 8) from the compact descriptions below.

Run from the repository root:  python sample_trails/_build/build_scenarios.py
Stdlib only, deterministic: re-running rewrites byte-identical files.

Each scenario function builds a story: accounts with their IAM roles, keys, key policies, buckets and
organization policies (what the evidence bundle shows at `collected_at`), the CloudTrail records of every
account involved (noise, policy changes, successes, the failures), and the expected diagnosis of each
failed event that the story is about.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ctlib import (
    KEY_ADMIN_ACTIONS,
    SSO_PROVIDER,
    TRUST,
    UA,
    UTC,
    Account,
    Grant,
    Key,
    ManagedPolicy,
    Role,
    Scenario,
    Session,
    aws_s3_key_policy,
    b32,
    compact,
    default_key_policy,
    denied_message,
    policy,
    sts_expiration,
    trust_account,
    trust_sso,
    uid,
)
from writer import write_scenario

OUT = Path(__file__).resolve().parent.parent
SSO_ADMIN = "AWSReservedSSO_AdministratorAccess_5f2b1c0a9d8e7f61"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
KMS_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


# --------------------------------------------------------------------------------------------- shared world


class World:
    """Accounts of one scenario with the furniture every real account has: an SSO admin role, an
    operations key used by Secrets Manager, an organization with the default FullAWSAccess policies."""

    def __init__(self, scn: Scenario) -> None:
        self.scn = scn
        self.admins: dict[str, Session] = {}
        self.ops_keys: dict[str, Key] = {}
        scn.setup_org(master=str(100000000000 + int(uid(scn.slug, "mgmt").replace("-", ""), 16) % 899999999999))
        self.ou_workloads = scn.add_ou("Workloads")
        self.ou_security = scn.add_ou("Security")

    def account(
        self,
        alias: str,
        acct_id: str | None = None,
        *,
        ou: str | None = None,
        admin_user: str = "maria.garcia@example.com",
    ) -> Account:
        scn = self.scn
        a = scn.account(alias, acct_id)
        scn.place(a, ou or self.ou_workloads, alias)
        admin = scn.role(
            a,
            SSO_ADMIN,
            trust_sso(a.id),
            attached=[scn.aws_policy(a, "AdministratorAccess")],
            path=SSO_PATH,
            created=scn.base - dt.timedelta(days=700),
        )
        s = scn.session(
            admin, admin_user, scn.base - dt.timedelta(minutes=30), ip="198.51.100.23", ua=UA["console"], console=True
        )
        self.admins[a.id] = s
        ops = scn.key(
            a,
            "ops-secrets",
            default_key_policy(a.id, [admin.arn]),
            description="Secrets Manager secrets of the operations team",
            alias="alias/ops-secrets",
            created=scn.base - dt.timedelta(days=650),
        )
        self.ops_keys[a.id] = ops
        return a

    def background(
        self,
        a: Account,
        start: dt.datetime,
        minutes: int = 90,
        n: int = 14,
        *,
        kinds: tuple[str, ...] | None = None,
        kms: bool = True,
    ) -> None:
        """Noise in one account: the SSO administrator's calls to other services and a secret read through
        Secrets Manager (with its KMS Decrypt). `kinds`/`kms` keep the noise allowed where an organization
        policy of the story would deny it."""
        s = self.admins[a.id]
        if kinds:
            self.scn.noise(s, start, minutes, n, seed="admin", kinds=kinds)
        else:
            self.scn.noise(s, start, minutes, n, seed="admin")
        if kms:
            self.scn.secret_read(s, start + dt.timedelta(minutes=minutes // 3), self.ops_keys[a.id], "prod/db/readonly")


def app_role(scn: Scenario, a: Account, name: str, service: str, **kw: object) -> Role:
    return scn.role(a, name, TRUST[service], **kw)  # type: ignore[arg-type]


def service_session(
    scn: Scenario,
    role: Role,
    session_name: str,
    created: dt.datetime,
    service: str,
    *,
    ip: str,
    ua: str,
    vpce: str | None = None,
) -> Session:
    """Credentials that a service (Lambda, ECS, EC2) obtained for a role, with its AssumeRole event."""
    s = scn.session(role, session_name, created, ip=ip, ua=ua, vpce=vpce)
    scn.assume_role(service, s, created)
    return s


def kms_allow(
    key_arns: list[str] | str,
    actions: list[str] | None = None,
    sid: str = "UseDataKey",
    condition: dict[str, object] | None = None,
) -> dict[str, object]:
    st: dict[str, object] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions or ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
        "Resource": key_arns,
    }
    if condition:
        st["Condition"] = condition
    return policy(st)


def add_statement(doc: dict[str, object], st: dict[str, object]) -> dict[str, object]:
    new = json.loads(json.dumps(doc))
    new["Statement"].append(st)
    return new


def key_user_statement(
    sid: str, principals: list[str] | str, actions: list[str] | None = None, condition: dict[str, object] | None = None
) -> dict[str, object]:
    st: dict[str, object] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions or ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
        "Resource": "*",
    }
    if condition:
        st["Condition"] = condition
    return st


def m(t: dt.datetime, minutes: float) -> dt.datetime:
    return t + dt.timedelta(minutes=minutes)


# --------------------------------------------------------------------------------------------- scenarios


def s01_guide_walkthrough(scn: Scenario) -> None:
    scn.readme = """
The guide's walk-through. Account 111111111111 owns the KMS key `alias/shared-data-key`; account
222222222222 runs the `DataProcessingRole` batch job (session `etl`), which must decrypt data that
111111111111 encrypted. The first run fails: the key policy names no one from 222222222222 (and the role
has no KMS permission either). The key owner adds a key-policy statement for the role; the second run
still fails, now on the caller's side: no identity-based policy allows kms:Decrypt. 222222222222 adds an
inline policy on the role for this key ARN, and the third run works (logged in both accounts with one
sharedEventID). The bundle was collected before the first run; the fixes are in the trails
(PutKeyPolicy in 111111111111, PutRolePolicy in 222222222222).

Fix (already applied in the story): a key-policy statement allowing
`arn:aws:iam::222222222222:role/DataProcessingRole` kms:Decrypt, and an identity policy on the role
allowing kms:Decrypt on the key ARN.
"""
    w = World(scn)
    owner = w.account("key-owner", "111111111111", ou=w.ou_security, admin_user="sam.keyadmin@example.com")
    dp = w.account("data-processing", "222222222222", admin_user="li.wei@example.com")
    admin_arn = owner.roles[SSO_ADMIN].arn
    base_policy = default_key_policy(owner.id, [admin_arn])
    key = scn.key(
        owner,
        "shared-data-key",
        base_policy,
        description="Shared data encryption key for partner workloads",
        alias="alias/shared-data-key",
    )
    role = scn.role(
        dp,
        "DataProcessingRole",
        trust_account(dp.id),
        inline={
            "s3-read-input": policy(
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": ["arn:aws:s3:::dp-input-222222222222", "arn:aws:s3:::dp-input-222222222222/*"],
                }
            )
        },
        description="ETL batch jobs of the data-processing team",
    )
    sched = scn.user(
        dp,
        "etl-scheduler",
        inline={
            "assume-data-processing": policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn})
        },
    )
    sched_s = scn.session(sched, None, scn.base - dt.timedelta(days=30), ip="203.0.113.40", ua=UA["boto3"])
    scn.collected_at = m(scn.base, -60)
    b = scn.base
    # run 1: key policy (and IAM) missing
    s1 = scn.session(role, "etl", m(b, 5), ip="203.0.113.40", ua=UA["boto3"])
    scn.assume_role(sched_s, s1, m(b, 5))
    ctx = {"dataset": "customer-orders", "stage": "raw"}
    e1 = scn.kms(
        s1,
        m(b, 6),
        "Decrypt",
        key,
        context=ctx,
        error=("AccessDenied", denied_message(s1.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e1, "RESOLVED_SINCE", ["KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING", "RESOLVED_SINCE"])
    # key owner adds the statement
    fixed = add_statement(
        base_policy, key_user_statement("Allow DataProcessingRole in 222222222222 to use the key", role.arn)
    )
    scn.call(
        w.admins[owner.id],
        m(b, 48),
        "kms.amazonaws.com",
        "DescribeKey",
        {"keyId": key.key_id},
        read_only=True,
        version="1.11",
        resources=[{"accountId": owner.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    scn.put_key_policy(w.admins[owner.id], m(b, 50), key, fixed)
    # run 2: IAM missing
    s2 = scn.session(role, "etl", m(b, 62), ip="203.0.113.40", ua=UA["boto3"])
    scn.assume_role(sched_s, s2, m(b, 62))
    e2 = scn.kms(
        s2,
        m(b, 63),
        "Decrypt",
        key,
        context=ctx,
        error=("AccessDenied", denied_message(s2.arn, "kms:Decrypt", key.arn, "identity")),
    )
    scn.expect(e2, "RESOLVED_SINCE", ["IAM_POLICY_MISSING", "RESOLVED_SINCE"])
    # caller account adds the identity policy
    scn.put_role_policy(
        w.admins[dp.id], m(b, 90), role, "shared-data-key-decrypt", kms_allow(key.arn, sid="DecryptSharedDataKey")
    )
    # run 3: works, logged in both accounts
    s3 = scn.session(role, "etl", m(b, 98), ip="203.0.113.40", ua=UA["boto3"])
    scn.assume_role(sched_s, s3, m(b, 98))
    scn.kms(s3, m(b, 99), "Decrypt", key, context=ctx)
    scn.kms(s3, m(b, 101), "GenerateDataKey", key, context={"dataset": "customer-orders", "stage": "curated"})
    for a in (owner, dp):
        w.background(a, m(b, -20), 150, 16)


def s02_key_policy_no_principal(scn: Scenario) -> None:
    scn.readme = """
The analytics account's `ReportingLambdaRole` (Lambda `monthly-report-builder`) decrypts export files
encrypted with the shared-services key `alias/reporting-exports`. The Lambda has kms:Decrypt on the key
ARN, but the key policy only names the `ExportWriterRole` of the same account (whose GenerateDataKey
calls succeed, logged in both accounts). Nothing in the key policy allows `ReportingLambdaRole` or the
analytics account. Fix: add a key-policy statement for
`arn:aws:iam::<analytics>:role/ReportingLambdaRole` with kms:Decrypt.
"""
    w = World(scn)
    ss = w.account("shared-services", ou=w.ou_security)
    an = w.account("analytics")
    writer = app_role(scn, an, "ExportWriterRole", "ecs")
    kp = add_statement(
        default_key_policy(ss.id, [ss.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowExportWriter", writer.arn, ["kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"]),
    )
    key = scn.key(ss, "reporting-exports", kp, description="Monthly reporting exports", alias="alias/reporting-exports")
    writer.inline["exports-key"] = kms_allow(key.arn, ["kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"])
    lam = app_role(
        scn,
        an,
        "ReportingLambdaRole",
        "lambda",
        attached=[scn.aws_policy(an, "AWSLambdaBasicExecutionRole")],
        inline={"read-exports": kms_allow(key.arn, ["kms:Decrypt"], sid="DecryptExports")},
    )
    b = scn.base
    ws = service_session(
        scn,
        writer,
        "3f9c1e2ab7d54a0c9e8f1b2c3d4e5f60",
        m(b, -40),
        "ecs-tasks.amazonaws.com",
        ip="10.20.3.14",
        ua=UA["java"],
    )
    for i in range(3):
        scn.kms(ws, m(b, -35 + 7 * i), "GenerateDataKey", key, context={"export": f"2026-10/part-{i:04d}"})
    ls = service_session(
        scn, lam, "monthly-report-builder", m(b, 2), "lambda.amazonaws.com", ip="3.231.44.172", ua=UA["lambda-py"]
    )
    e = scn.kms(
        ls,
        m(b, 3),
        "Decrypt",
        key,
        context={"export": "2026-10/part-0000"},
        error=("AccessDenied", denied_message(ls.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_NO_PRINCIPAL", ["KEY_POLICY_NO_PRINCIPAL"])
    for a in (ss, an):
        w.background(a, m(b, -45), 90)
    scn.collected_at = m(b, 75)


def s03_key_policy_no_action(scn: Scenario) -> None:
    scn.readme = """
The payments account's `settlement-worker` (ECS) uses the platform key `alias/settlement-files`. The key
policy has a statement for the role, written when the service only produced files: kms:Encrypt,
kms:GenerateDataKey, kms:DescribeKey. A new reconciliation step reads the files back and calls
kms:Decrypt, which is denied (GenerateDataKey keeps working, logged in both accounts). The role's IAM
policy allows Decrypt. Fix: add kms:Decrypt to the key-policy statement `AllowSettlementWorker`.
"""
    w = World(scn)
    pk = w.account("platform-keys", ou=w.ou_security)
    pay = w.account("payments")
    role = app_role(scn, pay, "settlement-worker", "ecs")
    kp = add_statement(
        default_key_policy(pk.id, [pk.roles[SSO_ADMIN].arn]),
        key_user_statement(
            "AllowSettlementWorker", role.arn, ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        ),
    )
    key = scn.key(pk, "settlement-files", kp, description="Settlement files", alias="alias/settlement-files")
    role.inline["settlement-key"] = kms_allow(
        key.arn, ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    )
    b = scn.base
    s = service_session(
        scn,
        role,
        "a8d2c4e6f0b14c3e8d9a7b6c5e4f3a21",
        m(b, -30),
        "ecs-tasks.amazonaws.com",
        ip="10.40.8.77",
        ua=UA["java"],
    )
    for i in range(2):
        scn.kms(
            s, m(b, -25 + 10 * i), "GenerateDataKey", key, context={"settlement-date": "2026-11-05", "batch": str(i)}
        )
    e = scn.kms(
        s,
        m(b, 4),
        "Decrypt",
        key,
        context={"settlement-date": "2026-11-05", "batch": "0"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_NO_ACTION", ["KEY_POLICY_NO_ACTION"])
    for a in (pk, pay):
        w.background(a, m(b, -40), 80)
    scn.collected_at = m(b, 50)


def s04_key_policy_principal_typo(scn: Scenario) -> None:
    ml_id = "480215937264"
    typo_id = "480215973264"  # two digits swapped
    scn.readme = f"""
The data-lake key `alias/feature-store` is shared with the ML account {ml_id} by a key-policy statement
that delegates to the account root, so that the ML account's IAM policies decide who may use it. The
statement says `arn:aws:iam::{typo_id}:root`: two digits of the account ID are swapped (KMS accepted it
because that account exists). The `feature-pipeline` role of {ml_id} has kms:Decrypt on the key ARN and
is denied. Fix: correct the principal to `arn:aws:iam::{ml_id}:root` (and check who owns {typo_id}:
the key policy trusts a stranger's account).
"""
    w = World(scn)
    lake = w.account("data-lake", ou=w.ou_security)
    ml = w.account("ml-training", ml_id)
    kp = add_statement(
        default_key_policy(lake.id, [lake.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowMLAccountUseOfTheKey", f"arn:aws:iam::{typo_id}:root"),
    )
    key = scn.key(
        lake, "feature-store", kp, description="Feature store exports for ML training", alias="alias/feature-store"
    )
    role = app_role(
        scn,
        ml,
        "feature-pipeline",
        "ec2",
        attached=[scn.aws_policy(ml, "AmazonSSMManagedInstanceCore")],
        inline={"feature-store-key": kms_allow(key.arn)},
    )
    b = scn.base
    s = service_session(
        scn, role, "i-0c3f5a7e9b1d2f468", m(b, -10), "ec2.amazonaws.com", ip="54.210.17.96", ua=UA["boto3"]
    )
    e = scn.kms(
        s,
        m(b, 1),
        "Decrypt",
        key,
        context={"table": "features_v7"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_PRINCIPAL_TYPO", ["KEY_POLICY_PRINCIPAL_TYPO"])
    retry = scn.kms(
        s,
        m(b, 3),
        "Decrypt",
        key,
        context={"table": "features_v7"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(retry, "KEY_POLICY_PRINCIPAL_TYPO", ["KEY_POLICY_PRINCIPAL_TYPO"])  # the SDK's retry
    for a in (lake, ml):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 40)


def s05_root_delegation_missing(scn: Scenario) -> None:
    scn.readme = """
In the media account, the key `alias/media-masters` was created with a hand-written key policy that names
the key administrators and the `transcoder` role, but has no "Enable IAM User Permissions" statement
for the account. A new job role `thumbnail-batch` in the same account got an IAM policy allowing
kms:Decrypt on the key ARN, and is denied: without the root statement, IAM policies do not count for this
key. Fix: add the statement allowing `arn:aws:iam::<media>:root` kms:* (the console default), or name
the role in the key policy.
"""
    w = World(scn)
    media = w.account("media")
    transcoder = app_role(scn, media, "transcoder", "ecs")
    kp = policy(
        {
            "Sid": "KeyAdministrators",
            "Effect": "Allow",
            "Principal": {"AWS": media.roles[SSO_ADMIN].arn},
            "Action": "kms:*",
            "Resource": "*",
        },
        key_user_statement(
            "TranscoderUse", transcoder.arn, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
        ),
        pid="media-masters-policy",
    )
    key = scn.key(
        media,
        "media-masters",
        kp,
        description="Master copies of media assets",
        alias="alias/media-masters",
        style="indent",
    )
    transcoder.inline["media-key"] = kms_allow(key.arn)
    thumb = app_role(
        scn,
        media,
        "thumbnail-batch",
        "ecs",
        inline={"media-key": kms_allow(key.arn, ["kms:Decrypt"], sid="ReadMasters")},
    )
    b = scn.base
    ts_ = service_session(
        scn,
        transcoder,
        "7e1d9c3b5a2f4e6d8c0b1a2f3e4d5c6b",
        m(b, -20),
        "ecs-tasks.amazonaws.com",
        ip="10.12.4.51",
        ua=UA["go"],
    )
    scn.kms(
        ts_, m(b, -18), "GenerateDataKey", key, key_ref="alias/media-masters", context={"asset": "ep-1042-master.mov"}
    )
    scn.kms(ts_, m(b, -5), "Decrypt", key, key_ref=None, context={"asset": "ep-1041-master.mov"})
    th = service_session(
        scn, thumb, "0b9a8c7d6e5f4a3b2c1d0e9f8a7b6c5d", m(b, 0), "ecs-tasks.amazonaws.com", ip="10.12.6.20", ua=UA["go"]
    )
    e = scn.kms(
        th,
        m(b, 1),
        "Decrypt",
        key,
        key_ref=None,
        context={"asset": "ep-1041-master.mov"},
        error=("AccessDenied", denied_message(th.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_ROOT_DELEGATION_MISSING", ["KEY_POLICY_ROOT_DELEGATION_MISSING"])
    w.background(media, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s06_principal_orphaned(scn: Scenario) -> None:
    scn.readme = """
The CI account's `ci-deployer` role decrypts deployment secrets with the security account's key
`alias/deploy-secrets`. Three days ago Terraform replaced the role (DeleteRole, CreateRole with the same
name: see the CI account's trail). The key policy's statement for the role now shows the old role's
unique ID (`AROA…`) instead of the ARN: KMS resolves principals to unique IDs, and the new role has a
new one. Decrypt is denied. Fix: put the role ARN back into the key policy (re-save the statement with
`arn:aws:iam::<ci>:role/ci-deployer`).
"""
    w = World(scn)
    sec = w.account("security", ou=w.ou_security)
    ci = w.account("ci")
    old_id = "AROA" + b32(17, scn.slug, "old-ci-deployer")
    role = app_role(scn, ci, "ci-deployer", "ec2", created=scn.base - dt.timedelta(days=3, minutes=4), inline={})
    kp = add_statement(
        default_key_policy(sec.id, [sec.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowCIDeployer", old_id, ["kms:Decrypt", "kms:DescribeKey"]),
    )
    key = scn.key(sec, "deploy-secrets", kp, description="Deployment secrets for CI", alias="alias/deploy-secrets")
    role.inline["deploy-secrets"] = kms_allow(key.arn, ["kms:Decrypt", "kms:DescribeKey"])
    b = scn.base
    tf = scn.session(
        ci.roles[SSO_ADMIN], "terraform@example.com", m(b, -3 * 1440 - 10), ip="198.51.100.77", ua=UA["terraform"]
    )
    scn.call(
        tf,
        m(b, -3 * 1440 - 6),
        "iam.amazonaws.com",
        "DeleteRolePolicy",
        {"roleName": "ci-deployer", "policyName": "deploy-secrets"},
        read_only=False,
        version="1.08",
    )
    scn.call(
        tf,
        m(b, -3 * 1440 - 5),
        "iam.amazonaws.com",
        "DeleteRole",
        {"roleName": "ci-deployer"},
        read_only=False,
        version="1.08",
    )
    scn.call(
        tf,
        m(b, -3 * 1440 - 4),
        "iam.amazonaws.com",
        "CreateRole",
        {
            "roleName": "ci-deployer",
            "assumeRolePolicyDocument": json.dumps(role.trust),
            "description": "CI deployer (recreated by terraform)",
        },
        response={
            "role": {
                "path": "/",
                "roleName": "ci-deployer",
                "roleId": role.role_id,
                "arn": role.arn,
                "createDate": sts_expiration(role.created),
                "assumeRolePolicyDocument": "%7B%22Version%22%3A%222012-10-17%22%7D",
            }
        },
        read_only=False,
        version="1.08",
    )
    scn.put_role_policy(tf, m(b, -3 * 1440 - 3), role, "deploy-secrets", role.inline["deploy-secrets"])
    s = service_session(
        scn, role, "i-0a7b9c1d3e5f70812", m(b, -2), "ec2.amazonaws.com", ip="34.201.88.12", ua=UA["cli"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"secret": "deploy/prod/db"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_PRINCIPAL_ORPHANED", ["KEY_POLICY_PRINCIPAL_ORPHANED"])
    for a in (sec, ci):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 45)


def s07_iam_policy_missing(scn: Scenario) -> None:
    scn.readme = """
The web account's `checkout-api` (ECS) decrypts order payloads encrypted under the central key
`alias/orders`. The key owner did their part: the key policy names the role. But the role only has S3
read access and a DynamoDB policy; nothing in its identity policies allows kms:Decrypt, and for a
cross-account key both sides must allow. The application passes no key ID (the ciphertext names the key),
so AWS's message says "the resource associated with this ciphertext". Fix: add an identity policy to
`checkout-api` allowing kms:Decrypt on the key ARN.
"""
    w = World(scn)
    ck = w.account("central-keys", ou=w.ou_security)
    web = w.account("web")
    role = app_role(
        scn,
        web,
        "checkout-api",
        "ecs",
        attached=[scn.aws_policy(web, "AmazonS3ReadOnlyAccess")],
        inline={
            "dynamodb-orders": policy(
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                    "Resource": f"arn:aws:dynamodb:us-east-1:{web.id}:table/orders",
                }
            )
        },
    )
    kp = add_statement(
        default_key_policy(ck.id, [ck.roles[SSO_ADMIN].arn]), key_user_statement("AllowCheckoutApi", role.arn)
    )
    key = scn.key(ck, "orders", kp, description="Order payloads", alias="alias/orders")
    b = scn.base
    s = service_session(
        scn,
        role,
        "5c4b3a29187f4e6d9c8b7a6f5e4d3c2b",
        m(b, -5),
        "ecs-tasks.amazonaws.com",
        ip="10.30.2.19",
        ua=UA["java"],
    )
    e = scn.kms(
        s,
        m(b, 1),
        "Decrypt",
        key,
        key_ref=None,
        context={"order-id": "o-88412"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e, "IAM_POLICY_MISSING", ["IAM_POLICY_MISSING"])
    for a in (ck, web):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s08_iam_resource_alias_arn(scn: Scenario) -> None:
    scn.readme = """
In the billing account, `invoice-renderer` (Lambda) calls GenerateDataKey with `alias/invoice-data`.
Its IAM policy names the key the same way: `Resource: arn:aws:kms:us-east-1:<billing>:alias/invoice-data`.
For kms:GenerateDataKey the resource that IAM checks is the key ARN, never the alias ARN, so the
statement does not match and the call is denied even though the key policy delegates to IAM. Fix: use
the key ARN (`arn:aws:kms:us-east-1:<billing>:key/…`) in the statement (or a `kms:RequestAlias`
condition on a key-ARN resource).
"""
    w = World(scn)
    bill = w.account("billing")
    key = scn.key(
        bill,
        "invoice-data",
        default_key_policy(bill.id, [bill.roles[SSO_ADMIN].arn]),
        description="Invoice PDFs",
        alias="alias/invoice-data",
    )
    role = app_role(
        scn,
        bill,
        "invoice-renderer",
        "lambda",
        attached=[scn.aws_policy(bill, "AWSLambdaBasicExecutionRole")],
        inline={
            "invoice-key": kms_allow(
                f"arn:aws:kms:us-east-1:{bill.id}:alias/invoice-data",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                sid="InvoiceKey",
            )
        },
    )
    b = scn.base
    s = service_session(
        scn, role, "invoice-renderer", m(b, -1), "lambda.amazonaws.com", ip="44.203.91.5", ua=UA["lambda-py"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "GenerateDataKey",
        key,
        key_ref="alias/invoice-data",
        context={"invoice": "INV-2026-11-00417"},
        error=("AccessDenied", denied_message(s.arn, "kms:GenerateDataKey", key.arn, "identity")),
    )
    scn.expect(e, "IAM_RESOURCE_MISMATCH", ["IAM_RESOURCE_MISMATCH"])
    w.background(bill, m(b, -30), 60)
    scn.collected_at = m(b, 20)


def s09_iam_resource_other_region(scn: Scenario) -> None:
    scn.readme = """
The reporting account's `report-exporter` reads data encrypted under the central key in us-east-1. Its
IAM policy was copied from the disaster-recovery runbook and names
`arn:aws:kms:us-west-2:<keys>:key/<same key ID>`: the right key ID in the wrong region. The key policy
allows the role, IAM does not match, and the call is denied. Fix: use the us-east-1 key ARN in the
identity policy.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    rep = w.account("reporting")
    role = app_role(scn, rep, "report-exporter", "ecs")
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]), key_user_statement("AllowReportExporter", role.arn)
    )
    key = scn.key(keys, "warehouse", kp, description="Warehouse extracts", alias="alias/warehouse")
    role.inline["warehouse-key"] = kms_allow(
        key.arn.replace("us-east-1", "us-west-2"), ["kms:Decrypt", "kms:DescribeKey"]
    )
    b = scn.base
    s = service_session(
        scn, role, "e2f4a6c8b0d14f3a5c7e9b1d3f5a7c9e", m(b, -3), "ecs-tasks.amazonaws.com", ip="10.60.1.8", ua=UA["go"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        context={"extract": "daily-2026-11-08"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "identity")),
    )
    scn.expect(e, "IAM_RESOURCE_MISMATCH", ["IAM_RESOURCE_MISMATCH"])
    for a in (keys, rep):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s10_wrong_region(scn: Scenario) -> None:
    scn.readme = """
The orders service runs in us-east-1 and was just deployed to eu-west-1 with the same configuration:
`KMS_KEY_ID=alias/orders-data`. The key and its alias exist only in us-east-1. In eu-west-1 the call
fails with NotFoundException ("Alias … is not found"), not AccessDenied; the us-east-1 deployment keeps
working. Fix: create a key (or a multi-Region replica) in eu-west-1 with the same alias, or point the
eu-west-1 deployment at the us-east-1 key ARN (cross-Region calls).
"""
    w = World(scn)
    orders = w.account("orders")
    orders.regions.add("eu-west-1")
    key = scn.key(
        orders,
        "orders-data",
        default_key_policy(orders.id, [orders.roles[SSO_ADMIN].arn]),
        description="Order data",
        alias="alias/orders-data",
    )
    role = app_role(
        scn,
        orders,
        "orders-service",
        "ecs",
        inline={
            "orders-key": kms_allow(
                f"arn:aws:kms:*:{orders.id}:key/*", ["kms:GenerateDataKey", "kms:Decrypt"], sid="OrdersKeys"
            )
        },
    )
    b = scn.base
    us = service_session(
        scn,
        role,
        "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6",
        m(b, -20),
        "ecs-tasks.amazonaws.com",
        ip="10.70.1.10",
        ua=UA["java"],
    )
    scn.kms(us, m(b, -15), "GenerateDataKey", key, key_ref="alias/orders-data", context={"order-id": "o-1001"})
    eu = scn.session(role, "9f8e7d6c5b4a43928170f6e5d4c3b2a1", m(b, -2), ip="10.71.1.10", ua=UA["java"])
    scn.assume_role("ecs-tasks.amazonaws.com", eu, m(b, -2), region="eu-west-1")
    alias_arn = f"arn:aws:kms:eu-west-1:{orders.id}:alias/orders-data"
    e = scn.kms(
        eu,
        m(b, 0),
        "GenerateDataKey",
        key,
        key_ref="alias/orders-data",
        region="eu-west-1",
        context={"order-id": "o-2001"},
        error=("NotFoundException", f"Alias {alias_arn} is not found."),
    )
    scn.expect(e, "WRONG_REGION", ["WRONG_REGION"])
    w.background(orders, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s11_wrong_assumed_role(scn: Scenario) -> None:
    scn.readme = """
The orders key in the keys account allows `arn:aws:iam::<prod>:role/OrdersService`, and production works
(Decrypt logged in both accounts). A staging deployment was pointed at the production key ARN. It runs
as `OrdersService` too, but the staging account's role of the same name: its IAM policy (copied from
prod) allows the key, the key policy does not know the staging account, and Decrypt is denied. Fix: use
a staging key for staging; if staging really must read production data, add the staging role ARN to the
key policy deliberately.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    prod = w.account("orders-prod")
    scn.readme_vars["prod"] = prod.id
    stg = w.account("orders-staging")
    prole = app_role(scn, prod, "OrdersService", "ecs")
    srole = app_role(scn, stg, "OrdersService", "ecs")
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowOrdersServiceProd", prole.arn),
    )
    key = scn.key(keys, "orders-prod", kp, description="Production order data", alias="alias/orders-prod")
    prole.inline["orders-key"] = kms_allow(key.arn)
    srole.inline["orders-key"] = kms_allow(key.arn)
    b = scn.base
    ps = service_session(
        scn,
        prole,
        "c0ffee00d15ea5e0b1e55ed0ca11ab1e",
        m(b, -25),
        "ecs-tasks.amazonaws.com",
        ip="10.80.1.11",
        ua=UA["java"],
    )
    for i in range(2):
        scn.kms(ps, m(b, -20 + 9 * i), "Decrypt", key, context={"order-id": f"o-77{i}"})
    ss_ = service_session(
        scn,
        srole,
        "5ca1ab1e0ddba11d00dfeedbeefcafe0",
        m(b, -1),
        "ecs-tasks.amazonaws.com",
        ip="10.81.1.11",
        ua=UA["java"],
    )
    e = scn.kms(
        ss_,
        m(b, 0),
        "Decrypt",
        key,
        context={"order-id": "o-770"},
        error=("AccessDenied", denied_message(ss_.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "WRONG_ASSUMED_ROLE", ["WRONG_ASSUMED_ROLE"])
    for a in (keys, prod, stg):
        w.background(a, m(b, -30), 60, 10)
    scn.collected_at = m(b, 30)


def s12_key_policy_overwritten(scn: Scenario) -> None:
    scn.readme = """
The analytics account's `etl-loader` had been decrypting with the platform key `alias/lake-raw` for
months: a key-policy statement `AllowAnalyticsEtl`, added by hand in the console, allowed it (the bundle,
collected two days ago, still shows it, and the successful calls are in both trails). This morning the
platform team updated the CloudFormation stack that owns the key; CloudFormation's PutKeyPolicy
(invokedBy cloudformation.amazonaws.com) replaced the policy with the template's, which never had the
hand-added statement. Twenty minutes later Decrypt is denied. Fix: add the statement to the template
(not the console), then update the stack.
"""
    w = World(scn)
    plat = w.account("platform", ou=w.ou_security)
    an = w.account("analytics")
    role = app_role(scn, an, "etl-loader", "ecs")
    cfn = scn.role(plat, "cfn-exec-role", TRUST["cfn"], attached=[scn.aws_policy(plat, "AdministratorAccess")])
    template_policy = default_key_policy(plat.id, [plat.roles[SSO_ADMIN].arn])
    template_policy["Id"] = "platform-kms-lake-raw"
    console_policy = add_statement(template_policy, key_user_statement("AllowAnalyticsEtl", role.arn))
    key = scn.key(
        plat,
        "lake-raw",
        console_policy,
        description="Raw zone of the data lake (stack platform-kms)",
        alias="alias/lake-raw",
    )
    role.inline["lake-raw-key"] = kms_allow(key.arn)
    b = scn.base
    scn.collected_at = m(b, -2 * 1440)
    old = service_session(
        scn,
        role,
        "b7e6d5c4a3f24e1d9c8b7a6e5d4c3b2a",
        m(b, -1440 - 10),
        "ecs-tasks.amazonaws.com",
        ip="10.90.3.3",
        ua=UA["boto3"],
    )
    for i in range(3):
        scn.kms(old, m(b, -1440 - 8 + 5 * i), "Decrypt", key, context={"partition": f"dt=2026-11-1{i}"})
    human = w.admins[plat.id]
    scn.call(
        human,
        m(b, -12),
        "cloudformation.amazonaws.com",
        "UpdateStack",
        {
            "stackName": "platform-kms",
            "templateURL": "https://s3.amazonaws.com/platform-templates/kms.yaml",
            "capabilities": ["CAPABILITY_NAMED_IAM"],
            "roleARN": cfn.arn,
        },
        response={"stackId": f"arn:aws:cloudformation:us-east-1:{plat.id}:stack/platform-kms/{uid(scn.slug, 'stack')}"},
        read_only=False,
        version="1.08",
    )
    cs = scn.session(
        cfn, "AWSCloudFormation", m(b, -11), ip="cloudformation.amazonaws.com", ua="cloudformation.amazonaws.com"
    )
    scn.assume_role("cloudformation.amazonaws.com", cs, m(b, -11))
    scn.put_key_policy(cs, m(b, -10), key, compact(template_policy), invoked_by="cloudformation.amazonaws.com")
    new = service_session(
        scn,
        role,
        "d3c2b1a0f9e84d7c6b5a4f3e2d1c0b9a",
        m(b, 8),
        "ecs-tasks.amazonaws.com",
        ip="10.90.3.4",
        ua=UA["boto3"],
    )
    e = scn.kms(
        new,
        m(b, 10),
        "Decrypt",
        key,
        context={"partition": "dt=2026-11-13"},
        error=("AccessDenied", denied_message(new.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_OVERWRITTEN", ["KEY_POLICY_OVERWRITTEN"])
    for a in (plat, an):
        w.background(a, m(b, -30), 60)


def s13_condition_via_service(scn: Scenario) -> None:
    scn.readme = """
In the documents account, `document-indexer` (Lambda) may use the key `alias/documents` only through S3:
its IAM policy allows kms:Decrypt with `kms:ViaService = s3.us-east-1.amazonaws.com`. Reading objects
works (S3 calls KMS for it: invokedBy s3.amazonaws.com). A new code path decrypts an envelope-encrypted
search token directly with the KMS API, and that call is denied: the ViaService condition does not hold
for a direct call. Fix: either keep the data in S3 and read it through S3, or add a separate statement for
the direct Decrypt (restricted by encryption context).
"""
    w = World(scn)
    docs = w.account("documents")
    key = scn.key(
        docs,
        "documents",
        default_key_policy(docs.id, [docs.roles[SSO_ADMIN].arn]),
        description="Document store",
        alias="alias/documents",
    )
    bucket = f"documents-store-{docs.id}"
    scn.bucket(
        docs,
        bucket,
        bucket_policy=policy(
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
        sse_key_arn=key.arn,
    )
    role = app_role(
        scn,
        docs,
        "document-indexer",
        "lambda",
        attached=[scn.aws_policy(docs, "AWSLambdaBasicExecutionRole")],
        inline={
            "read-documents": policy(
                {
                    "Sid": "ReadObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                },
                {
                    "Sid": "DecryptThroughS3",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key.arn,
                    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                },
            )
        },
    )
    b = scn.base
    s = service_session(
        scn, role, "document-indexer", m(b, -6), "lambda.amazonaws.com", ip="52.91.20.144", ua=UA["lambda-py"]
    )
    for i in range(3):
        scn.kms(
            s,
            m(b, -5 + i),
            "Decrypt",
            key,
            key_ref=None,
            context={"aws:s3:arn": f"arn:aws:s3:::{bucket}"},
            invoked_by="s3.amazonaws.com",
        )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=key.arn,
        context={"purpose": "search-token", "doc": "d-4471"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "identity")),
    )
    scn.expect(e, "CONDITION_VIA_SERVICE", ["CONDITION_VIA_SERVICE"])
    w.background(docs, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s14_condition_encryption_context(scn: Scenario) -> None:
    scn.readme = """
The tenants account's `billing-api` may use the central key only with the encryption context
`app=billing` (key-policy statement `AllowBillingApiWithContext`, condition
`kms:EncryptionContext:app`). Version 2 of the service changed its context to `app=billing-v2`: its
GenerateDataKey calls are denied, while the old version's calls keep succeeding (logged in both
accounts). Fix: keep `app=billing` in the code (data encrypted with the old context must be decrypted with
it anyway), or widen the condition to both values deliberately.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    ten = w.account("tenants")
    role = app_role(scn, ten, "billing-api", "ecs")
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]),
        key_user_statement(
            "AllowBillingApiWithContext",
            role.arn,
            ["kms:Decrypt", "kms:GenerateDataKey"],
            {"StringEquals": {"kms:EncryptionContext:app": "billing"}},
        ),
    )
    key = scn.key(keys, "billing", kp, description="Billing records", alias="alias/billing")
    role.inline["billing-key"] = kms_allow(key.arn, ["kms:Decrypt", "kms:GenerateDataKey"])
    b = scn.base
    v1 = service_session(
        scn,
        role,
        "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5",
        m(b, -20),
        "ecs-tasks.amazonaws.com",
        ip="10.11.1.21",
        ua=UA["java"],
    )
    # the service names the key by its alias ARN (valid across accounts); resources[] carries the key ARN
    scn.kms(v1, m(b, -18), "GenerateDataKey", key, key_ref="alias-arn", context={"app": "billing", "tenant": "t-0042"})
    scn.kms(v1, m(b, -9), "Decrypt", key, context={"app": "billing", "tenant": "t-0042"})
    v2 = service_session(
        scn,
        role,
        "f5e4d3c2b1a049f8e7d6c5b4a3f2e1d0",
        m(b, -1),
        "ecs-tasks.amazonaws.com",
        ip="10.11.1.22",
        ua=UA["java"],
    )
    e = scn.kms(
        v2,
        m(b, 0),
        "GenerateDataKey",
        key,
        key_ref="alias-arn",
        context={"app": "billing-v2", "tenant": "t-0042"},
        error=("AccessDenied", denied_message(v2.arn, "kms:GenerateDataKey", key.arn, "resource")),
    )
    scn.expect(e, "CONDITION_ENCRYPTION_CONTEXT", ["CONDITION_ENCRYPTION_CONTEXT"])
    for a in (keys, ten):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s15_condition_other(scn: Scenario) -> None:
    vpce = "vpce-0a1b2c3d4e5f60718"
    scn.readme = f"""
The batch account's `nightly-batch` role may use the key `alias/batch-results` only from inside its VPC:
the key-policy statement for the role has `aws:SourceVpce = {vpce}`. The nightly job (EC2, through the
KMS VPC endpoint: `vpcEndpointId` in the records) works. An engineer re-running a step from a laptop with
the same role (public IP, no VPC endpoint) is denied. Fix: run it inside the VPC (SSM session on the
batch host); the condition is doing its job.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    batch = w.account("batch")
    role = scn.role(
        batch,
        "nightly-batch",
        policy(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": batch.roles[SSO_ADMIN].arn}, "Action": "sts:AssumeRole"},
        ),
    )
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowNightlyBatchFromVpc", role.arn, condition={"StringEquals": {"aws:SourceVpce": vpce}}),
    )
    key = scn.key(keys, "batch-results", kp, description="Batch results", alias="alias/batch-results")
    role.inline["batch-key"] = kms_allow(key.arn)
    b = scn.base
    job = service_session(
        scn, role, "i-0f1e2d3c4b5a69788", m(b, -240), "ec2.amazonaws.com", ip="10.5.12.40", ua=UA["boto3"], vpce=vpce
    )
    for i in range(3):
        scn.kms(job, m(b, -230 + 20 * i), "GenerateDataKey", key, context={"run": "2026-11-14", "step": str(i)})
    admin = scn.session(batch.roles[SSO_ADMIN], "dev.rao@example.com", m(b, -5), ip="192.0.2.145", ua=UA["cli"])
    laptop = scn.session(role, "dev.rao", m(b, -2), ip="192.0.2.145", ua=UA["cli"])
    scn.assume_role(admin, laptop, m(b, -2))
    e = scn.kms(
        laptop,
        m(b, 0),
        "Decrypt",
        key,
        context={"run": "2026-11-14", "step": "1"},
        error=("AccessDenied", denied_message(laptop.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "CONDITION_OTHER", ["CONDITION_OTHER"])
    for a in (keys, batch):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s16_explicit_deny(scn: Scenario) -> None:
    scn.readme = """
Two denials in the finance account. (1) An administrator (SSO AdministratorAccess) tries to decrypt a
ledger export with `alias/ledger`: the key policy has a Deny statement `DenyDecryptExceptLedgerRoles`
(kms:Decrypt unless `aws:PrincipalArn` is a `ledger-*` role), so AWS says "with an explicit deny in a
resource-based policy". (2) The `ledger-reconcile` role matches that pattern, but the security team
attached the managed policy `QuarantineKms` (Deny kms:*) after an incident review: "with an explicit deny
in an identity-based policy". Fix: (1) is by design: use a ledger role; (2) detach `QuarantineKms` when
the review is closed.
"""
    w = World(scn)
    fin = w.account("finance")
    admin = fin.roles[SSO_ADMIN]
    kp = add_statement(
        default_key_policy(fin.id, [admin.arn]),
        {
            "Sid": "DenyDecryptExceptLedgerRoles",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{fin.id}:role/ledger-*"}},
        },
    )
    key = scn.key(fin, "ledger", kp, description="General ledger exports", alias="alias/ledger")
    quarantine = scn.managed_policy(
        fin,
        "QuarantineKms",
        policy({"Sid": "DenyAllKms", "Effect": "Deny", "Action": "kms:*", "Resource": "*"}),
        created=scn.base - dt.timedelta(days=1),
        description="Incident review IR-2211",
    )
    export = app_role(scn, fin, "ledger-export", "lambda", inline={"ledger-key": kms_allow(key.arn)})
    recon = app_role(
        scn, fin, "ledger-reconcile", "ecs", inline={"ledger-key": kms_allow(key.arn)}, attached=[quarantine]
    )
    b = scn.base
    ex = service_session(
        scn, export, "ledger-export", m(b, -20), "lambda.amazonaws.com", ip="3.94.120.7", ua=UA["lambda-py"]
    )
    scn.kms(ex, m(b, -19), "GenerateDataKey", key, key_ref="id", context={"period": "2026-10"})
    adm = w.admins[fin.id]
    scn.call(
        adm,
        m(b, -30),
        "iam.amazonaws.com",
        "AttachRolePolicy",
        {"roleName": "ledger-reconcile", "policyArn": quarantine},
        read_only=False,
        version="1.08",
    )
    cli_admin = scn.session(admin, "maria.garcia@example.com", m(b, -4), ip="198.51.100.23", ua=UA["cli"])
    e1 = scn.kms(
        cli_admin,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"period": "2026-10"},
        error=("AccessDenied", denied_message(cli_admin.arn, "kms:Decrypt", key.arn, "deny-resource")),
    )
    scn.expect(e1, "EXPLICIT_DENY", ["EXPLICIT_DENY"])
    rs = service_session(
        scn,
        recon,
        "9d8c7b6a5f4e43d2c1b0a9f8e7d6c5b4",
        m(b, 5),
        "ecs-tasks.amazonaws.com",
        ip="10.14.2.2",
        ua=UA["java"],
    )
    e2 = scn.kms(
        rs,
        m(b, 6),
        "Decrypt",
        key,
        key_ref=None,
        context={"period": "2026-10"},
        error=("AccessDenied", denied_message(rs.arn, "kms:Decrypt", key.arn, "deny-identity")),
    )
    scn.expect(e2, "EXPLICIT_DENY", ["EXPLICIT_DENY"])
    w.background(fin, m(b, -40), 60)
    scn.collected_at = m(b, 30)


def s17_scp_no_allow(scn: Scenario) -> None:
    scn.readme = """
The sandbox account sits in the `Sandbox` OU, where the organization replaced FullAWSAccess with an
allow-list SCP `SandboxAllowList` (S3, EC2, Lambda, logs, DynamoDB, CloudWatch, read-only IAM, STS). A
developer's `dev-experiments` role has AdministratorAccess and the key policy delegates to the account,
yet GenerateDataKey on the account's own key is denied: no SCP at the OU level allows kms:*. Fix: add
the KMS actions to `SandboxAllowList` (or move the account).
"""
    w = World(scn)
    sandbox_ou = scn.add_ou("Sandbox")
    assert scn.org
    scn.org.policies["p-FullAWSAccess"].targets.remove(sandbox_ou)
    scn.org_policy(
        "SandboxAllowList",
        "SERVICE_CONTROL_POLICY",
        policy(
            {
                "Sid": "AllowListedServices",
                "Effect": "Allow",
                "Action": [
                    "s3:*",
                    "ec2:*",
                    "lambda:*",
                    "logs:*",
                    "dynamodb:*",
                    "cloudwatch:*",
                    "iam:Get*",
                    "iam:List*",
                    "sts:*",
                    "ssm:*",
                    "secretsmanager:*",
                ],
                "Resource": "*",
            }
        ),
        [sandbox_ou],
        "Services allowed in sandbox accounts",
    )
    sb = w.account("sandbox-dev", ou=sandbox_ou)
    key = scn.key(
        sb,
        "experiments",
        default_key_policy(sb.id, [sb.roles[SSO_ADMIN].arn]),
        description="Experiment data",
        alias="alias/experiments",
        created=scn.base - dt.timedelta(days=20),
    )
    role = scn.role(sb, "dev-experiments", trust_account(sb.id), attached=[scn.aws_policy(sb, "AdministratorAccess")])
    b = scn.base
    adm = scn.session(sb.roles[SSO_ADMIN], "jo.developer@example.com", m(b, -6), ip="192.0.2.77", ua=UA["cli"])
    s = scn.session(role, "jo-notebook", m(b, -5), ip="192.0.2.77", ua=UA["boto3"])
    scn.assume_role(adm, s, m(b, -5))
    e = scn.kms(
        s,
        m(b, 0),
        "GenerateDataKey",
        key,
        key_ref="alias/experiments",
        error=("AccessDenied", denied_message(s.arn, "kms:GenerateDataKey", key.arn, "scp")),
    )
    scn.expect(e, "SCP_NO_ALLOW", ["SCP_NO_ALLOW"])
    scn.noise(s, m(b, -4), 20, 8, seed="dev", kinds=("ec2", "s3", "logs", "lambda", "dynamodb", "cloudwatch", "sts"))
    scn.collected_at = m(b, 30)


def s18_rcp_no_allow(scn: Scenario) -> None:
    scn.readme = """
The key lives in the data account, in the `Data` OU. The bundle's organization data shows the OU's
resource control policies: only `DataPerimeterAllowList`, which allows S3 and Secrets Manager actions but
no KMS action, and no `RCPFullAWSAccess` at that level. The consumer role in the analytics account is
allowed by its IAM policy and by the key policy, yet Decrypt is denied: "because no resource control policy
allows the kms:Decrypt action". Note: AWS documents that RCPFullAWSAccess cannot be detached, so this
state is rare in practice (it is what an incomplete organization listing, or an organization whose
default RCP was replaced, looks like); the scenario checks that kmsdiag names the RCP level and the
missing Allow. Fix: an RCP at the `Data` OU that allows the KMS actions (RCPFullAWSAccess).
"""
    w = World(scn)
    data_ou = scn.add_ou("Data")
    assert scn.org
    scn.org.policies["p-RCPFullAWSAccess"].targets.remove(data_ou)
    scn.org_policy(
        "DataPerimeterAllowList",
        "RESOURCE_CONTROL_POLICY",
        policy(
            {
                "Sid": "AllowListedResourceActions",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:*", "secretsmanager:*"],
                "Resource": "*",
            }
        ),
        [data_ou],
        "Resource actions allowed on data accounts",
    )
    data = w.account("data", ou=data_ou)
    an = w.account("analytics")
    role = app_role(scn, an, "athena-consumer", "lambda")
    kp = add_statement(
        default_key_policy(data.id, [data.roles[SSO_ADMIN].arn]), key_user_statement("AllowAthenaConsumer", role.arn)
    )
    key = scn.key(data, "curated", kp, description="Curated datasets", alias="alias/curated")
    role.inline["curated-key"] = kms_allow(key.arn)
    b = scn.base
    s = service_session(
        scn, role, "athena-consumer", m(b, -1), "lambda.amazonaws.com", ip="18.206.40.3", ua=UA["lambda-py"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        context={"dataset": "curated/orders"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "rcp")),
    )
    scn.expect(e, "RCP_NO_ALLOW", ["RCP_NO_ALLOW"])
    # the data account's own resources are under the RCP too: its noise avoids KMS and SQS
    w.background(data, m(b, -30), 60, kinds=("ec2", "ssm", "logs", "sts", "s3", "dynamodb", "lambda"), kms=False)
    w.background(an, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s19_permission_boundary(scn: Scenario) -> None:
    scn.readme = """
In the dev-tools account every role that developers create must carry the permissions boundary
`DeveloperBoundary` (S3, logs, ECR, CodeBuild, SSM parameters). The `ci-build` role got an inline policy
allowing kms:Decrypt on the artifacts key, and the key policy delegates to the account, but the boundary
does not allow any KMS action, so Decrypt is denied: "because no permissions boundary allows the
kms:Decrypt action". Fix: add kms:Decrypt on the key ARN to the boundary (a platform-team change).
"""
    w = World(scn)
    dt_ = w.account("dev-tools")
    boundary = scn.managed_policy(
        dt_,
        "DeveloperBoundary",
        policy(
            {
                "Sid": "DeveloperServices",
                "Effect": "Allow",
                "Action": [
                    "s3:*",
                    "logs:*",
                    "ecr:*",
                    "codebuild:*",
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            }
        ),
        description="Boundary for developer-created roles",
    )
    key = scn.key(
        dt_,
        "artifacts",
        default_key_policy(dt_.id, [dt_.roles[SSO_ADMIN].arn]),
        description="Build artifacts",
        alias="alias/artifacts",
    )
    role = scn.role(
        dt_,
        "ci-build",
        policy({"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}),
        boundary=boundary,
        inline={
            "artifacts": policy(
                {
                    "Sid": "BuildBasics",
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "ecr:GetAuthorizationToken",
                        "ssm:GetParameter",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": f"arn:aws:s3:::artifacts-{dt_.id}/*",
                },
                {
                    "Sid": "ArtifactsKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key.arn,
                },
            )
        },
    )
    b = scn.base
    s = service_session(
        scn,
        role,
        "AWSCodeBuild-6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
        m(b, -2),
        "codebuild.amazonaws.com",
        ip="35.172.155.9",
        ua=UA["cli"],
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"build": "web-frontend#812"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "boundary")),
    )
    scn.expect(e, "PERMISSION_BOUNDARY", ["PERMISSION_BOUNDARY"])
    scn.noise(s, m(b, -2), 10, 6, seed="build", kinds=("logs", "ecr", "ssm", "sts"))
    w.background(dt_, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s20_session_policy(scn: Scenario) -> None:
    scn.readme = """
The deploy pipeline's IAM user `ci-bot` assumes `DeployRole` for each run and, to limit the blast radius,
passes a session policy that allows only S3 and CloudFormation (visible in the AssumeRole event's
`requestParameters.policy` in the deploy account's trail). `DeployRole` itself may decrypt the release
key, and the key policy delegates to the account, but the session's permissions are the intersection:
Decrypt is denied "because no session policy allows the kms:Decrypt action". The session is linked to
the AssumeRole by its access key ID. Fix: add kms:Decrypt on the key ARN to the session policy in the
pipeline definition.
"""
    w = World(scn)
    dep = w.account("deploy")
    key = scn.key(
        dep,
        "release",
        default_key_policy(dep.id, [dep.roles[SSO_ADMIN].arn]),
        description="Release bundles",
        alias="alias/release",
    )
    role = scn.role(
        dep,
        "DeployRole",
        trust_account(dep.id),
        inline={
            "deploy": policy(
                {"Effect": "Allow", "Action": ["s3:*", "cloudformation:*"], "Resource": "*"},
                {
                    "Sid": "ReleaseKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key.arn,
                },
            )
        },
    )
    bot = scn.user(
        dep,
        "ci-bot",
        inline={"assume-deploy": policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.arn})},
    )
    b = scn.base
    bs = scn.session(bot, None, m(b, -600), ip="203.0.113.200", ua=UA["cli"])
    s = scn.session(role, "deploy-run-4812", m(b, -3), ip="203.0.113.200", ua=UA["cli"])
    session_policy = policy({"Effect": "Allow", "Action": ["s3:*", "cloudformation:*"], "Resource": "*"})
    scn.assume_role(bs, s, m(b, -3), session_policy=session_policy)
    scn.call(
        s,
        m(b, -2),
        "cloudformation.amazonaws.com",
        "DescribeStacks",
        {"stackName": "web-prod"},
        read_only=True,
        version="1.08",
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"release": "web-2026.11.20"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "session")),
    )
    scn.expect(e, "SESSION_POLICY", ["SESSION_POLICY"])
    w.background(dep, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s21_grant_missing(scn: Scenario) -> None:
    scn.readme = """
In the ingest account, `ingest-worker` has no KMS permission of its own: it uses the key `alias/ingest`
through a grant (`ingest-worker-access`, Decrypt and GenerateDataKey) created by an administrator. The
bundle, collected yesterday, lists the grant, and this morning's Decrypt calls succeed. Then a cleanup
script revokes grants it thinks are unused (RevokeGrant in the trail), and the next Decrypt is denied.
Fix: re-create the grant (or give the role an identity policy for the key: the key policy delegates to
the account).
"""
    w = World(scn)
    ing = w.account("ingest")
    key = scn.key(
        ing,
        "ingest",
        default_key_policy(ing.id, [ing.roles[SSO_ADMIN].arn]),
        description="Ingested files",
        alias="alias/ingest",
    )
    role = app_role(
        scn,
        ing,
        "ingest-worker",
        "ecs",
        inline={
            "queue": policy(
                {
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                    "Resource": f"arn:aws:sqs:us-east-1:{ing.id}:ingest",
                }
            )
        },
    )
    b = scn.base
    gid = "".join(c for c in uid(scn.slug, "grant") if c != "-") * 2
    grant = Grant(gid, role.arn, ["Decrypt", "GenerateDataKey"], b - dt.timedelta(days=10), name="ingest-worker-access")
    key.grants.append(grant)
    scn.collected_at = m(b, -1440)
    s = service_session(
        scn, role, "2c3d4e5f6a7b48c9d0e1f2a3b4c5d6e7", m(b, -60), "ecs-tasks.amazonaws.com", ip="10.3.3.3", ua=UA["go"]
    )
    for i in range(2):
        scn.kms(s, m(b, -55 + 10 * i), "Decrypt", key, key_ref=None, context={"file": f"in/2026-11-22/{i:05d}.json"})
    cleaner = scn.session(
        ing.roles[SSO_ADMIN], "cleanup-script@example.com", m(b, -20), ip="198.51.100.90", ua=UA["boto3"]
    )
    scn.call(
        cleaner,
        m(b, -15),
        "kms.amazonaws.com",
        "ListGrants",
        {"keyId": key.arn},
        read_only=True,
        version="1.11",
        resources=[{"accountId": ing.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    scn.call(
        cleaner,
        m(b, -14),
        "kms.amazonaws.com",
        "RevokeGrant",
        {"keyId": key.arn, "grantId": gid},
        read_only=False,
        version="1.11",
        resources=[{"accountId": ing.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"file": "in/2026-11-22/00002.json"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "identity")),
    )
    scn.expect(e, "GRANT_MISSING", ["GRANT_MISSING"])
    w.background(ing, m(b, -70), 90)


def s22_create_grant_missing(scn: Scenario) -> None:
    scn.readme = """
In the compute account, `platform-deployer` launches instances whose EBS volumes are encrypted with the
customer managed key `alias/ebs-prod`. Its IAM policy allows kms:GenerateDataKeyWithoutPlaintext,
kms:Decrypt, kms:ReEncrypt* and kms:DescribeKey on the key, but not kms:CreateGrant. EC2 creates a grant
for the volume on the caller's behalf (invokedBy ec2.amazonaws.com); that CreateGrant is denied and the
instance goes from pending to terminated. Fix: add kms:CreateGrant on the key ARN with the condition
`kms:GrantIsForAWSResource = true`.
"""
    w = World(scn)
    comp = w.account("compute")
    key = scn.key(
        comp,
        "ebs-prod",
        default_key_policy(comp.id, [comp.roles[SSO_ADMIN].arn]),
        description="EBS volumes of production",
        alias="alias/ebs-prod",
    )
    role = scn.role(
        comp,
        "platform-deployer",
        trust_account(comp.id),
        inline={
            "deploy": policy(
                {
                    "Effect": "Allow",
                    "Action": ["ec2:RunInstances", "ec2:CreateTags", "ec2:Describe*", "iam:PassRole"],
                    "Resource": "*",
                },
                {
                    "Sid": "EbsKey",
                    "Effect": "Allow",
                    "Action": [
                        "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:DescribeKey",
                    ],
                    "Resource": key.arn,
                },
            )
        },
    )
    b = scn.base
    adm = scn.session(comp.roles[SSO_ADMIN], "ops.oncall@example.com", m(b, -10), ip="198.51.100.31", ua=UA["cli"])
    s = scn.session(role, "release-2026-11-23", m(b, -5), ip="198.51.100.31", ua=UA["terraform"])
    scn.assume_role(adm, s, m(b, -5))
    vol = "vol-0" + "".join(c for c in uid(scn.slug, "vol") if c.isalnum())[:16]
    inst = "i-0" + "".join(c for c in uid(scn.slug, "inst") if c.isalnum())[:16]
    scn.call(
        s,
        m(b, -1),
        "ec2.amazonaws.com",
        "RunInstances",
        {
            "instancesSet": {"items": [{"imageId": "ami-0453ec754f44f9a4a", "minCount": 1, "maxCount": 1}]},
            "instanceType": "m7i.large",
            "blockDeviceMapping": {
                "items": [
                    {
                        "deviceName": "/dev/xvda",
                        "ebs": {
                            "volumeSize": 50,
                            "deleteOnTermination": True,
                            "volumeType": "gp3",
                            "encrypted": True,
                            "kmsKeyId": "alias/ebs-prod",
                        },
                    }
                ]
            },
        },
        response={
            "requestId": uid(scn.slug, "runreq"),
            "reservationId": "r-0" + inst[3:19],
            "ownerId": comp.id,
            "instancesSet": {"items": [{"instanceId": inst, "currentState": {"code": 0, "name": "pending"}}]},
        },
        read_only=False,
    )
    scn.kms(
        s,
        m(b, -0.9),
        "GenerateDataKeyWithoutPlaintext",
        key,
        key_ref=key.arn,
        context={"aws:ebs:id": vol},
        invoked_by="ec2.amazonaws.com",
    )
    e = scn.kms(
        s,
        m(b, -0.8),
        "CreateGrant",
        key,
        key_ref=key.arn,
        invoked_by="ec2.amazonaws.com",
        extra_request={
            "granteePrincipal": "ec2.us-east-1.amazonaws.com",
            "retiringPrincipal": "ec2.us-east-1.amazonaws.com",
            "operations": ["Decrypt"],
            "constraints": {"encryptionContextSubset": {"aws:ebs:id": vol}},
        },
        error=("AccessDenied", denied_message(s.arn, "kms:CreateGrant", key.arn, "identity")),
    )
    scn.expect(e, "CREATE_GRANT_MISSING", ["CREATE_GRANT_MISSING"])
    w.background(comp, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s23_aws_managed_key_cross_account(scn: Scenario) -> None:
    scn.readme = """
The data-lake account's bucket encrypts objects with the AWS managed key `aws/s3` (default encryption
SSE-KMS without a key of its own). The bucket policy grants the BI account's `bi-reader` role
s3:GetObject, and the role's IAM policy allows s3:GetObject and kms:Decrypt, yet GetObject fails: S3 asks
KMS to decrypt the object's data key with `aws/s3`, whose key policy only allows principals of its own
account (kms:CallerAccount) and cannot be changed. Both the S3 call and the KMS call are denied, in the
BI account's trail. Fix: re-encrypt the objects with a customer managed key whose policy allows the BI
role, and set it as the bucket default.
"""
    w = World(scn)
    lake = w.account("data-lake", ou=w.ou_security)
    bi = w.account("bi")
    managed = scn.key(
        lake,
        "aws-s3",
        aws_s3_key_policy(lake.id, "us-east-1"),
        description="Default key that protects my S3 objects when no other key is defined",
        manager="AWS",
        alias="alias/aws/s3",
    )
    bucket = f"lake-curated-{lake.id}"
    role = app_role(
        scn,
        bi,
        "bi-reader",
        "ec2",
        inline={
            "lake": policy(
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                },
                {
                    "Sid": "LakeKeys",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:us-east-1:{lake.id}:key/*",
                },
            )
        },
    )
    scn.bucket(
        lake,
        bucket,
        bucket_policy=policy(
            {
                "Sid": "BIRead",
                "Effect": "Allow",
                "Principal": {"AWS": role.arn},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ),
        sse_key_arn=None,
    )
    lake.buckets[bucket].sse_key_arn = managed.arn
    lake.buckets[bucket].bucket_key = False
    b = scn.base
    s = service_session(
        scn, role, "i-07d5c3b1a9f8e6d4c", m(b, -3), "ec2.amazonaws.com", ip="54.160.2.9", ua=UA["boto3"]
    )
    obj = "sales/2026/11/24/part-00000.parquet"
    s3 = scn.record(
        bi.id,
        t=m(b, 0),
        source="s3.amazonaws.com",
        name="GetObject",
        region="us-east-1",
        identity=s.identity(),
        ip=s.ip,
        ua="[" + UA["boto3"] + "]",
        request={"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": obj},
        response=None,
        error=("AccessDenied", "Access Denied"),
        extra={
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": "Zt0m2Xq+" + b32(40, scn.slug, "amzid"),
                "bytesTransferredOut": 243,
            }
        },
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{obj}"},
            {"accountId": lake.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        read_only=True,
        category="Data",
    )
    e_kms = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        managed,
        key_ref=None,
        context={"aws:s3:arn": f"arn:aws:s3:::{bucket}/{obj}"},
        invoked_by="s3.amazonaws.com",
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", managed.arn, "resource")),
    )
    scn.expect(e_kms, "AWS_MANAGED_KEY_CROSS_ACCOUNT", ["AWS_MANAGED_KEY_CROSS_ACCOUNT"])
    scn.expect(str(s3["eventID"]), "AWS_MANAGED_KEY_CROSS_ACCOUNT", ["AWS_MANAGED_KEY_CROSS_ACCOUNT"])
    for a in (lake, bi):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s24_key_disabled(scn: Scenario) -> None:
    scn.readme = """
An administrator of the keys account disabled `alias/legacy-reports` two hours ago, believing it unused
(DisableKey in the keys account's trail). The apps account's `report-generator` still decrypts archived
reports with it: Decrypt fails with DisabledException (a key-state error, not AccessDenied, so it is
logged in both accounts with one sharedEventID). Fix: re-enable the key (`aws kms enable-key`) and plan
the migration before disabling it again.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    apps = w.account("apps")
    role = app_role(scn, apps, "report-generator", "lambda")
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]), key_user_statement("AllowReportGenerator", role.arn)
    )
    key = scn.key(
        keys,
        "legacy-reports",
        kp,
        description="Reports archive (2019-2023)",
        alias="alias/legacy-reports",
        state="Disabled",
    )
    role.inline["reports-key"] = kms_allow(key.arn)
    b = scn.base
    scn.call(
        w.admins[keys.id],
        m(b, -120),
        "kms.amazonaws.com",
        "DisableKey",
        {"keyId": key.key_id},
        read_only=False,
        version="1.11",
        resources=[{"accountId": keys.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    s = service_session(
        scn, role, "report-generator", m(b, -1), "lambda.amazonaws.com", ip="3.80.9.200", ua=UA["lambda-py"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        context={"report": "2022-Q4"},
        error=("DisabledException", f"{key.arn} is disabled."),
    )
    scn.expect(e, "KEY_DISABLED", ["KEY_DISABLED"])
    # a key-state error of a cross-account call is logged in the key owner's account too
    scn.expect(scn.last_copies[1], "KEY_DISABLED", ["KEY_DISABLED"])
    for a in (keys, apps):
        w.background(a, m(b, -130), 150)
    scn.collected_at = m(b, 30)


def s25_key_pending_deletion(scn: Scenario) -> None:
    scn.readme = """
Three days ago someone scheduled the key `alias/customer-exports` for deletion (ScheduleKeyDeletion,
30-day window) in the exports account. The nightly `export-job` still encrypts with it and now fails with
KMSInvalidStateException ("… is pending deletion"). Fix: `aws kms cancel-key-deletion` then
`aws kms enable-key`, and find out who scheduled it and why.
"""
    w = World(scn)
    ex = w.account("exports")
    key = scn.key(
        ex,
        "customer-exports",
        default_key_policy(ex.id, [ex.roles[SSO_ADMIN].arn]),
        description="Customer data exports",
        alias="alias/customer-exports",
        state="PendingDeletion",
    )
    b = scn.base
    key.deletion_date = (b - dt.timedelta(days=3)).replace(hour=0, minute=0, second=0) + dt.timedelta(days=31)
    key.pending_days = 30
    role = app_role(
        scn, ex, "export-job", "ecs", inline={"exports-key": kms_allow(key.arn, ["kms:GenerateDataKey", "kms:Encrypt"])}
    )
    scn.call(
        w.admins[ex.id],
        m(b, -3 * 1440),
        "kms.amazonaws.com",
        "ScheduleKeyDeletion",
        {"keyId": key.key_id, "pendingWindowInDays": 30},
        response={
            "keyId": key.arn,
            "deletionDate": sts_expiration(key.deletion_date),
            "keyState": "PendingDeletion",
            "pendingWindowInDays": 30,
        },
        read_only=False,
        version="1.11",
        resources=[{"accountId": ex.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    s = service_session(
        scn, role, "6e5d4c3b2a1f40e9d8c7b6a5f4e3d2c1", m(b, -1), "ecs-tasks.amazonaws.com", ip="10.9.9.9", ua=UA["go"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "GenerateDataKey",
        key,
        key_ref="alias/customer-exports",
        context={"export": "nightly-2026-11-26"},
        error=("KMSInvalidStateException", f"{key.arn} is pending deletion."),
    )
    scn.expect(e, "KEY_PENDING_DELETION", ["KEY_PENDING_DELETION"])
    w.background(ex, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s26_key_not_found(scn: Scenario) -> None:
    scn.readme = """
Eight days ago a cleanup scheduled an "unused" key of the archive account for deletion with the shortest
window (7 days); yesterday KMS deleted it (a DeleteKey service event). The quarterly `archive-restore`
job still has the key ARN in its configuration and gets NotFoundException ("Key '…' does not exist").
The key is gone from the bundle. Fix: none for the data encrypted under it (it cannot be decrypted any
more); restore from a copy encrypted under another key, and protect keys with a deny on
kms:ScheduleKeyDeletion.
"""
    w = World(scn)
    arc = w.account("archive")
    key = scn.key(
        arc,
        "archive-2024",
        default_key_policy(arc.id, [arc.roles[SSO_ADMIN].arn]),
        description="Archive 2024",
        alias="alias/archive-2024",
    )
    role = app_role(
        scn,
        arc,
        "archive-restore",
        "ecs",
        inline={"archive-keys": kms_allow(f"arn:aws:kms:us-east-1:{arc.id}:key/*", ["kms:Decrypt"])},
    )
    b = scn.base
    scn.call(
        w.admins[arc.id],
        m(b, -8 * 1440),
        "kms.amazonaws.com",
        "ScheduleKeyDeletion",
        {"keyId": key.key_id, "pendingWindowInDays": 7},
        response={
            "keyId": key.arn,
            "deletionDate": sts_expiration((b - dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)),
            "keyState": "PendingDeletion",
            "pendingWindowInDays": 7,
        },
        read_only=False,
        version="1.11",
        resources=[{"accountId": arc.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    deleted = scn.record(
        arc.id,
        t=(b - dt.timedelta(days=1)).replace(hour=0, minute=4, second=11),
        source="kms.amazonaws.com",
        name="DeleteKey",
        region="us-east-1",
        identity={"accountId": arc.id, "invokedBy": "kms.amazonaws.com"},
        ip="kms.amazonaws.com",
        ua="kms.amazonaws.com",
        request=None,
        response=None,
        resources=[{"accountId": arc.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
        read_only=False,
        version="1.11",
        event_type="AwsServiceEvent",
        tls=False,
    )
    del deleted["requestID"]
    deleted_items = list(deleted.items())
    deleted.clear()
    for k, v in deleted_items:
        deleted[k] = v
        if k == "recipientAccountId":
            deleted["serviceEventDetails"] = {"keyId": key.key_id}
    # the key no longer exists: not in the bundle (ListKeys does not return it), its alias went with it
    del arc.keys[key.key_id]
    s = service_session(
        scn, role, "4f3e2d1c0b9a48f7e6d5c4b3a2f1e0d9", m(b, -1), "ecs-tasks.amazonaws.com", ip="10.2.2.2", ua=UA["java"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=key.arn,
        context={"archive": "2024-Q3"},
        error=("NotFoundException", f"Key '{key.arn}' does not exist"),
    )
    scn.expect(e, "KEY_NOT_FOUND", ["KEY_NOT_FOUND"])
    w.background(arc, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s27_s3_bucket_policy_missing(scn: Scenario) -> None:
    scn.readme = """
The partner account's `partner-sync` role reads objects from the exchange bucket in the hub account. KMS is
set up correctly (the key policy names the role, its IAM policy allows kms:Decrypt and s3:GetObject), but
the bucket policy only grants the old partner account. S3 refuses GetObject before it ever calls KMS: the
failure is in the bucket policy layer (no KMS event at all). Fix: add a bucket-policy statement allowing
the role s3:GetObject on `arn:aws:s3:::<bucket>/*`.
"""
    w = World(scn)
    hub = w.account("exchange-hub", ou=w.ou_security)
    partner = w.account("partner")
    old_partner = "730115428890"
    role = app_role(scn, partner, "partner-sync", "ecs")
    kp = add_statement(
        default_key_policy(hub.id, [hub.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowPartnerSync", role.arn, ["kms:Decrypt", "kms:DescribeKey"]),
    )
    key = scn.key(hub, "exchange", kp, description="Partner exchange bucket", alias="alias/exchange")
    bucket = f"exchange-{hub.id}"
    scn.readme_vars["bucket"] = bucket
    scn.bucket(
        hub,
        bucket,
        bucket_policy=policy(
            {
                "Sid": "OldPartnerRead",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{old_partner}:root"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ),
        sse_key_arn=key.arn,
    )
    role.inline["exchange"] = policy(
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        },
        {"Sid": "ExchangeKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key.arn},
    )
    b = scn.base
    s = service_session(
        scn,
        role,
        "8a7b6c5d4e3f42a1b0c9d8e7f6a5b4c3",
        m(b, -1),
        "ecs-tasks.amazonaws.com",
        ip="10.44.0.12",
        ua=UA["java"],
    )
    obj = "inbound/2026-11-27/manifest.json"
    r = scn.record(
        partner.id,
        t=m(b, 0),
        source="s3.amazonaws.com",
        name="GetObject",
        region="us-east-1",
        identity=s.identity(),
        ip=s.ip,
        ua="[" + UA["java"] + "]",
        request={"bucketName": bucket, "Host": f"{bucket}.s3.us-east-1.amazonaws.com", "key": obj},
        response=None,
        error=("AccessDenied", "Access Denied"),
        extra={
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": "Qp3k1Vn+" + b32(40, scn.slug, "amzid"),
                "bytesTransferredOut": 243,
            }
        },
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{obj}"},
            {"accountId": hub.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        read_only=True,
        category="Data",
    )
    scn.expect(str(r["eventID"]), "S3_BUCKET_POLICY_MISSING", ["S3_BUCKET_POLICY_MISSING"])
    for a in (hub, partner):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s28_resolved_since(scn: Scenario) -> None:
    scn.readme = """
At 09:00 the marketing account's `campaign-sender` failed to decrypt the audience lists of the CRM account
(its role was missing from the key policy). Fifteen minutes later a CRM administrator added it
(PutKeyPolicy in the CRM account's trail) and the next run succeeded (logged in both accounts). The
evidence bundle was collected in the afternoon, after the fix: the policies now in force allow the call.
What the key policy said at 09:00 is not in the evidence, only that it changed since. Nothing to fix.
"""
    w = World(scn)
    crm = w.account("crm", ou=w.ou_security)
    mk = w.account("marketing")
    role = app_role(
        scn,
        mk,
        "campaign-sender",
        "lambda",
        inline={
            "audience-key": policy(
                {
                    "Sid": "AudienceKey",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:us-east-1:{crm.id}:key/*",
                }
            )
        },
    )
    fixed = add_statement(
        default_key_policy(crm.id, [crm.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowCampaignSender", role.arn, ["kms:Decrypt"]),
    )
    key = scn.key(crm, "audiences", fixed, description="Audience lists", alias="alias/audiences")
    b = scn.base
    s1 = service_session(
        scn, role, "campaign-sender", m(b, -1), "lambda.amazonaws.com", ip="34.229.8.17", ua=UA["lambda-py"]
    )
    e = scn.kms(
        s1,
        m(b, 0),
        "Decrypt",
        key,
        context={"list": "black-friday-2026"},
        error=("AccessDenied", denied_message(s1.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "RESOLVED_SINCE", ["RESOLVED_SINCE"])
    scn.put_key_policy(w.admins[crm.id], m(b, 15), key, fixed)
    s2 = service_session(
        scn, role, "campaign-sender", m(b, 29), "lambda.amazonaws.com", ip="34.229.8.18", ua=UA["lambda-py"]
    )
    scn.kms(s2, m(b, 30), "Decrypt", key, context={"list": "black-friday-2026"})
    for a in (crm, mk):
        w.background(a, m(b, -20), 90)
    scn.collected_at = m(b, 360)


def s29_unknown(scn: Scenario) -> None:
    scn.readme = """
The vendor account's `vendor-etl` is denied kms:Decrypt on a key of the customer account. The customer
ran the bundle commands with a read-only audit role, but the key policy does not delegate to the account,
so DescribeKey, GetKeyPolicy and ListGrants on that key were refused (errors.json). AWS's message says "no
resource-based policy allows", but for a cross-account call that message is not proof, and without the key
policy nothing can be concluded: the diagnosis must say what is missing (`aws kms get-key-policy` run by a
key administrator of the customer account) instead of guessing.
"""
    w = World(scn)
    cust = w.account("customer", ou=w.ou_security)
    vend = w.account("vendor")
    role = app_role(scn, vend, "vendor-etl", "ecs")
    kp = policy(
        {
            "Sid": "KeyAdmins",
            "Effect": "Allow",
            "Principal": {"AWS": cust.roles[SSO_ADMIN].arn},
            "Action": "kms:*",
            "Resource": "*",
        },
        key_user_statement("AllowIngestion", f"arn:aws:iam::{cust.id}:role/ingestion"),
        pid="customer-shared",
    )
    key = scn.key(cust, "vendor-share", kp, description="Data shared with vendors", alias="alias/vendor-share")
    role.inline["customer-key"] = kms_allow(key.arn, ["kms:Decrypt"])
    cust.skip_files |= {f"describe-key:{key.key_id}", f"get-key-policy:{key.key_id}", f"list-grants:{key.key_id}"}
    audit = f"arn:aws:sts::{cust.id}:assumed-role/SecurityAudit/kmsdiag"
    for call, op in (
        ("kms:DescribeKey", "DescribeKey"),
        ("kms:GetKeyPolicy", "GetKeyPolicy"),
        ("kms:ListGrants", "ListGrants"),
    ):
        cust.errors.append(
            {
                "call": call,
                "resource": key.arn,
                "error": "AccessDeniedException",
                "message": f"An error occurred (AccessDeniedException) when calling the {op} operation: User: {audit} is not authorized to perform: {call} on resource: {key.arn} because no resource-based policy allows the {call} action",
            }
        )
    b = scn.base
    s = service_session(
        scn, role, "3b2a1f0e9d8c47b6a5f4e3d2c1b0a9f8", m(b, -1), "ecs-tasks.amazonaws.com", ip="10.66.6.6", ua=UA["go"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        context={"share": "weekly"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "UNKNOWN", ["UNKNOWN"])
    for a in (cust, vend):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 45)


def s30_explicit_deny_scp(scn: Scenario) -> None:
    scn.readme = """
The organization attaches `DenyOutsideApprovedRegions` to the Workloads OU: everything except global
services is denied outside us-east-1 and eu-west-1 (`aws:RequestedRegion`). The DR team's
`dr-restore` role, with AdministratorAccess, runs a restore test in us-west-2 against the replica key
`alias/dr-backups` there, and Decrypt is denied "with an explicit deny in a service control policy". The
key policy and IAM allow it; the same call in us-east-1 works. Fix: add us-west-2 to the approved regions
(an organization change), or run the test in an approved region.
"""
    w = World(scn)
    scn.org_policy(
        "DenyOutsideApprovedRegions",
        "SERVICE_CONTROL_POLICY",
        policy(
            {
                "Sid": "DenyAllOutsideApprovedRegions",
                "Effect": "Deny",
                "NotAction": [
                    "iam:*",
                    "organizations:*",
                    "sts:*",
                    "support:*",
                    "cloudfront:*",
                    "route53:*",
                    "budgets:*",
                ],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
            }
        ),
        [w.ou_workloads],
        "Only us-east-1 and eu-west-1",
    )
    dr = w.account("dr-testing")
    dr.regions.add("us-west-2")
    admin_arn = dr.roles[SSO_ADMIN].arn
    home = scn.key(
        dr,
        "dr-backups-use1",
        default_key_policy(dr.id, [admin_arn]),
        description="Backups (us-east-1)",
        alias="alias/dr-backups",
    )
    replica = scn.key(
        dr,
        "dr-backups-usw2",
        default_key_policy(dr.id, [admin_arn]),
        description="Backups (us-west-2 copy)",
        alias="alias/dr-backups",
        region="us-west-2",
    )
    role = scn.role(dr, "dr-restore", trust_account(dr.id), attached=[scn.aws_policy(dr, "AdministratorAccess")])
    b = scn.base
    adm = scn.session(dr.roles[SSO_ADMIN], "ana.dr@example.com", m(b, -10), ip="198.51.100.140", ua=UA["cli"])
    s = scn.session(role, "restore-test-2026-11", m(b, -8), ip="198.51.100.140", ua=UA["boto3"])
    scn.assume_role(adm, s, m(b, -8))
    scn.kms(s, m(b, -6), "Decrypt", home, key_ref=None, context={"backup": "db-2026-11-24"})
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        replica,
        key_ref=None,
        region="us-west-2",
        context={"backup": "db-2026-11-24"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", replica.arn, "deny-scp")),
    )
    scn.expect(e, "EXPLICIT_DENY", ["EXPLICIT_DENY"])
    w.background(dr, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s31_wrong_assumed_role_user(scn: Scenario) -> None:
    scn.readme = """
The key account's key policy allows the data team's `DataProcessingRole` (the cross-account pattern: the
key owner names a role, the team's members assume it). An engineer debugging a failed batch decrypts a
sample directly with their own IAM user `li.wei` (AdministratorAccess in the data account), and is
denied: the key policy names the role, not the user or the account. Fix: assume `DataProcessingRole`
(`aws sts assume-role --role-arn arn:aws:iam::<data>:role/DataProcessingRole ...`) and call Decrypt with
its credentials.
"""
    w = World(scn)
    keys = w.account("keys", ou=w.ou_security)
    data = w.account("data-team")
    scn.readme_vars["data"] = data.id
    role = scn.role(data, "DataProcessingRole", trust_account(data.id))
    kp = add_statement(
        default_key_policy(keys.id, [keys.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowDataProcessingRole", role.arn),
    )
    key = scn.key(keys, "team-data", kp, description="Data team datasets", alias="alias/team-data")
    role.inline["team-data-key"] = kms_allow(key.arn)
    user = scn.user(data, "li.wei", attached=[scn.aws_policy(data, "AdministratorAccess")])
    b = scn.base
    us = scn.session(user, None, m(b, -400 * 1440), ip="192.0.2.61", ua=UA["cli"])
    rs = scn.session(role, "batch-7781", m(b, -30), ip="10.8.1.5", ua=UA["boto3"])
    scn.assume_role(us, rs, m(b, -30))
    scn.kms(rs, m(b, -28), "Decrypt", key, context={"dataset": "events", "day": "2026-11-25"})
    e = scn.kms(
        us,
        m(b, 0),
        "Decrypt",
        key,
        context={"dataset": "events", "day": "2026-11-25"},
        error=("AccessDenied", denied_message(us.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "WRONG_ASSUMED_ROLE", ["WRONG_ASSUMED_ROLE"])
    scn.noise(us, m(b, -20), 30, 6, seed="user")
    for a in (keys, data):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s32_key_policy_principal_typo_digit(scn: Scenario) -> None:
    caller_id = "593017248861"
    typo_id = "593017248661"  # one wrong digit
    scn.readme = f"""
The security team shares the audit-log key `alias/audit-logs` with the SIEM account {caller_id} by
delegating to that account's root, and the SIEM's `log-shipper` role (Lambda) has kms:Decrypt on the key
ARN. The key-policy statement says `arn:aws:iam::{typo_id}:root`: one digit of the account ID is wrong
(a copy from a ticket). Decrypt is denied. Fix: correct the principal to `arn:aws:iam::{caller_id}:root`
(and find out whose account {typo_id} is).
"""
    w = World(scn)
    sec = w.account("security", ou=w.ou_security)
    siem = w.account("siem", caller_id)
    kp = add_statement(
        default_key_policy(sec.id, [sec.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowSiemAccount", f"arn:aws:iam::{typo_id}:root", ["kms:Decrypt", "kms:DescribeKey"]),
    )
    key = scn.key(sec, "audit-logs", kp, description="Audit log archive", alias="alias/audit-logs")
    role = app_role(
        scn,
        siem,
        "log-shipper",
        "lambda",
        inline={"audit-key": kms_allow(key.arn, ["kms:Decrypt"], sid="ReadAuditLogs")},
    )
    b = scn.base
    s = service_session(
        scn, role, "log-shipper", m(b, -1), "lambda.amazonaws.com", ip="18.232.7.41", ua=UA["lambda-py"]
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"log": "cloudtrail/2026/11/26"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", key.arn, "resource")),
    )
    scn.expect(e, "KEY_POLICY_PRINCIPAL_TYPO", ["KEY_POLICY_PRINCIPAL_TYPO"])
    for a in (sec, siem):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


# ------------------------------------------------------------------ request context (issue: unknown vs absent)


def s33_principal_tag_abac(scn: Scenario) -> None:
    scn.readme = """
The analytics account's `atlas-reporting` role (Lambda) reads reports encrypted under the data account's
key `alias/atlas-reports`. The key is shared by attribute (ABAC, as in the AWS KMS developer guide, "ABAC
for AWS KMS", https://docs.aws.amazon.com/kms/latest/developerguide/abac.html, and the IAM User Guide's
`aws:PrincipalTag` entry, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principaltag):
the key policy allows the analytics account's principals only when `aws:PrincipalTag/project = atlas`.
The role carries the tag `project=atlas` (get-account-authorization-details lists it), so the key-policy
condition holds for the Lambda's own session. Yet the call is denied: the role's identity policies allow
only S3, and a cross-account key needs both sides. Verdict: IAM_POLICY_MISSING, not a condition.

Later an engineer assumes the same role from the console with a session tag `project=legacy` (session
tags override the role's tags for that session: IAM User Guide, "Passing session tags in AWS STS",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html). For that session the key-policy
condition does not hold: CONDITION_OTHER first, IAM_POLICY_MISSING as well.
"""
    w = World(scn)
    data = w.account("data", ou=w.ou_security)
    analytics = w.account("analytics")
    role = app_role(
        scn,
        analytics,
        "atlas-reporting",
        "lambda",
        attached=[scn.aws_policy(analytics, "AmazonS3ReadOnlyAccess")],
        tags={"project": "atlas", "cost-center": "cc-4410"},
    )
    role.trust = policy(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": analytics.roles[SSO_ADMIN].arn},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        },
    )
    kp = add_statement(
        default_key_policy(data.id, [data.roles[SSO_ADMIN].arn]),
        key_user_statement(
            "AllowAtlasProjectPrincipals",
            f"arn:aws:iam::{analytics.id}:root",
            ["kms:Decrypt", "kms:DescribeKey"],
            condition={"StringEquals": {"aws:PrincipalTag/project": "atlas"}},
        ),
    )
    key = scn.key(data, "atlas-reports", kp, description="Atlas project reports", alias="alias/atlas-reports")
    b = scn.base
    s = service_session(
        scn, role, "atlas-reporting", m(b, -3), "lambda.amazonaws.com", ip="3.91.22.140", ua=UA["lambda-py"]
    )
    e1 = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"report": "weekly-2026-47"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e1, "IAM_POLICY_MISSING", ["IAM_POLICY_MISSING"])
    admin = w.admins[analytics.id]
    tagged = scn.session(role, "li.wei", m(b, 40), ip="198.51.100.23", ua=UA["cli"])
    scn.assume_role(admin, tagged, m(b, 40), tags={"project": "legacy"})
    e2 = scn.kms(
        tagged,
        m(b, 42),
        "Decrypt",
        key,
        key_ref=None,
        context={"report": "weekly-2026-47"},
        error=("AccessDenied", denied_message(tagged.arn, "kms:Decrypt", None, "resource")),
    )
    scn.expect(e2, "CONDITION_OTHER", ["CONDITION_OTHER", "IAM_POLICY_MISSING"])
    for a in (data, analytics):
        w.background(a, m(b, -30), 90)
    scn.collected_at = m(b, 120)


def s34_org_path_moved(scn: Scenario) -> None:
    scn.readme = """
The security account's key `alias/shared-artifacts` is open to every principal of the Workloads OU:
`ForAnyValue:StringLike aws:PrincipalOrgPaths = <org>/<root>/<ou>/*` (IAM User Guide, `aws:PrincipalOrgPaths`,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths;
AWS Organizations API, MoveAccount, https://docs.aws.amazon.com/organizations/latest/APIReference/API_MoveAccount.html).
The evidence bundle was collected two days before the failure, when the `research` account was still
in Workloads. Yesterday's reorganization moved `research` to the Sandbox OU (MoveAccount in the
management account's trail). At the time of the failure the account's path is Sandbox's, the condition
does not hold: CONDITION_OTHER, with the path as of the event time. Fix: move the account back, or add
the Sandbox path to the condition.
"""
    w = World(scn)
    sec = w.account("security", ou=w.ou_security)
    research = w.account("research")
    sandbox = scn.add_ou("Sandbox")
    w.account("playground", ou=sandbox)  # the Sandbox OU's place in the organization is in the evidence
    assert scn.org is not None
    org_path = f"{scn.org.org_id}/{scn.org.root_id}/{w.ou_workloads}/*"
    scn.readme_vars.update(org=scn.org.org_id, root=scn.org.root_id, ou=w.ou_workloads)
    role = app_role(
        scn,
        research,
        "build-runner",
        "ec2",
        inline={"artifacts-key": kms_allow(f"arn:aws:kms:us-east-1:{sec.id}:key/*", ["kms:Decrypt"])},
    )
    kp = add_statement(
        default_key_policy(sec.id, [sec.roles[SSO_ADMIN].arn]),
        {
            "Sid": "AllowWorkloadsOU",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [org_path]}},
        },
    )
    key = scn.key(sec, "shared-artifacts", kp, description="Build artifacts", alias="alias/shared-artifacts")
    b = scn.base
    s = service_session(
        scn, role, "i-07c1d2e3f4a5b6c7d", m(b, -600), "ec2.amazonaws.com", ip="10.44.3.12", ua=UA["boto3"]
    )
    scn.kms(s, m(b, -590), "Decrypt", key, key_ref=None, context={"artifact": "toolchain-14.2"})
    mgmt = scn.org.master
    scn.record(
        mgmt,
        t=m(b, -300),
        source="organizations.amazonaws.com",
        name="MoveAccount",
        region="us-east-1",
        identity={
            "type": "AssumedRole",
            "principalId": "AROAMGMTADMINEXAMPLE:platform.admin@example.com",
            "arn": f"arn:aws:sts::{mgmt}:assumed-role/{SSO_ADMIN}/platform.admin@example.com",
            "accountId": mgmt,
            "accessKeyId": "ASIAMGMTEXAMPLE00001",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAMGMTADMINEXAMPLE",
                    "arn": f"arn:aws:iam::{mgmt}:role{SSO_PATH}{SSO_ADMIN}",
                    "accountId": mgmt,
                    "userName": SSO_ADMIN,
                },
                "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        ip="198.51.100.23",
        ua=UA["console"],
        request={"accountId": research.id, "sourceParentId": w.ou_workloads, "destinationParentId": sandbox},
        response=None,
    )
    s2 = service_session(
        scn, role, "i-07c1d2e3f4a5b6c7d", m(b, -10), "ec2.amazonaws.com", ip="10.44.3.12", ua=UA["boto3"]
    )
    e = scn.kms(
        s2,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"artifact": "toolchain-14.3"},
        error=("AccessDenied", denied_message(s2.arn, "kms:Decrypt", None, "resource")),
    )
    scn.expect(e, "CONDITION_OTHER", ["CONDITION_OTHER"])
    for a in (sec, research):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, -2880)


def s35_service_principal_source_arn(scn: Scenario) -> None:
    scn.readme = """
An EventBridge rule in the integration account sends order events to an SNS topic encrypted with the
customer managed key `alias/order-events`. EventBridge calls KMS itself (`userIdentity.type`
AWSService, `invokedBy` events.amazonaws.com, in the key owner's trail). The key policy allows
`events.amazonaws.com` only for `aws:SourceArn` = the rule `order-created` (the confused-deputy guard
of the AWS KMS developer guide and the EventBridge user guide,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions,
https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html). The team renamed the rule to
`orders-created`; the new rule's deliveries fail. A service principal has no identity policies: the key
policy decides alone. CloudTrail does not record `aws:SourceArn`, but nothing else refuses the call, so
kmsdiag infers that the condition failed (CONDITION_OTHER, labelled as an inference) and shows the values
to compare: the condition's rule ARN, and the rules that EventBridge's own records in the trail created
(the PutRule of `orders-created`, with its PutTargets to the topic, ten minutes before the failure; the
rule's ARN is the record's `responseElements.ruleArn`, PutRule's `RuleArn` answer in the EventBridge API
Reference, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html). Fix: name the
new rule's ARN in the condition.
"""
    w = World(scn)
    integ = w.account("integration")
    rule_arn = f"arn:aws:events:us-east-1:{integ.id}:rule/order-created"
    kp = add_statement(
        default_key_policy(integ.id, [integ.roles[SSO_ADMIN].arn]),
        {
            "Sid": "AllowEventBridgeOrderRule",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        },
    )
    key = scn.key(integ, "order-events", kp, description="SNS topic order-events", alias="alias/order-events")
    b = scn.base
    topic = f"arn:aws:sns:us-east-1:{integ.id}:order-events"
    svc = {"type": "AWSService", "invokedBy": "events.amazonaws.com"}
    for i, err in enumerate((None, ("AccessDenied", None))):
        r = scn.record(
            integ.id,
            t=m(b, -60 + 60 * i),
            source="kms.amazonaws.com",
            name="GenerateDataKey",
            region="us-east-1",
            identity=svc,
            ip="events.amazonaws.com",
            ua="events.amazonaws.com",
            request={"keyId": key.arn, "encryptionContext": {"aws:sns:topicArn": topic}, "keySpec": "AES_256"},
            error=err,
            resources=[{"accountId": integ.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
            read_only=True,
            version="1.11",
            tls=False,
        )
        if err:
            scn.expect(str(r["eventID"]), "CONDITION_OTHER", ["CONDITION_OTHER"])
    w.background(integ, m(b, -30), 60)
    # the rename, in the integration account's trail: the new rule and its target, then the old rule's removal
    admin = w.admins[integ.id]
    new_rule = f"arn:aws:events:us-east-1:{integ.id}:rule/orders-created"
    pattern = '{"source":["com.example.orders"],"detail-type":["OrderCreated"]}'
    scn.call(
        admin,
        m(b, -12),
        "events.amazonaws.com",
        "PutRule",
        {"name": "orders-created", "eventPattern": pattern, "state": "ENABLED"},
        response={"ruleArn": new_rule},
    )
    scn.call(
        admin,
        m(b, -11),
        "events.amazonaws.com",
        "PutTargets",
        {"rule": "orders-created", "targets": [{"id": "order-events-topic", "arn": topic}]},
        response={"failedEntryCount": 0, "failedEntries": []},
    )
    scn.call(
        admin,
        m(b, -10),
        "events.amazonaws.com",
        "RemoveTargets",
        {"rule": "order-created", "ids": ["order-events-topic"]},
        response={"failedEntryCount": 0, "failedEntries": []},
    )
    scn.call(admin, m(b, -10), "events.amazonaws.com", "DeleteRule", {"name": "order-created"})
    scn.collected_at = m(b, 30)


def s36_wrong_region_arn(scn: Scenario) -> None:
    scn.readme = """
The payments service builds the key ARN from its own region: `arn:aws:kms:${AWS_REGION}:<payments>:key/…`.
Deployed to us-west-2, it asks KMS in us-west-2 for a key that exists only in us-east-1 (same account,
same key ID): NotFoundException. KMS keys are regional; the key ID exists in one region unless it is a
multi-Region key (AWS KMS developer guide, "Key identifiers",
https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id, and "Multi-Region keys",
https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html). The evidence
collected us-east-1 and us-west-2. Verdict: WRONG_REGION, naming us-east-1 and the right ARN.
"""
    w = World(scn)
    pay = w.account("payments")
    pay.regions.add("us-west-2")
    key = scn.key(
        pay,
        "card-tokens",
        default_key_policy(pay.id, [pay.roles[SSO_ADMIN].arn]),
        description="Card tokens",
        alias="alias/card-tokens",
    )
    role = app_role(
        scn,
        pay,
        "payments-api",
        "ecs",
        inline={"tokens-key": kms_allow(f"arn:aws:kms:*:{pay.id}:key/*", ["kms:Decrypt", "kms:Encrypt"])},
    )
    b = scn.base
    s = scn.session(role, "0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4", m(b, -2), ip="10.81.4.7", ua=UA["java"])
    scn.assume_role("ecs-tasks.amazonaws.com", s, m(b, -2), region="us-west-2")
    wrong = f"arn:aws:kms:us-west-2:{pay.id}:key/{key.key_id}"
    e = scn.kms(
        s,
        m(b, 0),
        "Encrypt",
        key,
        key_ref=wrong,
        region="us-west-2",
        context={"merchant": "m-20931"},
        error=("NotFoundException", f"Key '{wrong}' does not exist"),
    )
    scn.expect(e, "WRONG_REGION", ["WRONG_REGION"])
    w.background(pay, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s37_condition_principal_arn_path(scn: Scenario) -> None:
    scn.readme = """
The data account's key `alias/lake-exports` is shared with the analytics account's data engineers, who
sign in through IAM Identity Center. The key policy allows the analytics account only for
`ArnLike aws:PrincipalArn = arn:aws:iam::<analytics>:role/AWSReservedSSO_DataEngineer_*`. Identity Center
creates its roles under the path `/aws-reserved/sso.amazonaws.com/` (IAM Identity Center User Guide,
"Referencing permission sets in resource policies",
https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html), and
`aws:PrincipalArn` carries the role's full ARN with its path (IAM User Guide,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn):
the pattern never matches. Verdict: CONDITION_OTHER, a near miss, with the corrected pattern as the fix
(not "widen the condition"). The analytics trail holds the AssumeRoleWithSAML record by which Identity Center
issued her session (no session policy passed), so the fix is proven: the corrected pattern is evaluated
against every layer of the failing request.
"""
    w = World(scn)
    data = w.account("data", ou=w.ou_security)
    analytics = w.account("analytics")
    eng_name = "AWSReservedSSO_DataEngineer_3c9a61e0b2d4f587"
    eng = scn.role(
        analytics,
        eng_name,
        trust_sso(analytics.id),
        inline={"lake-exports": kms_allow(f"arn:aws:kms:us-east-1:{data.id}:key/*", ["kms:Decrypt"])},
        path=SSO_PATH,
        created=scn.base - dt.timedelta(days=90),
    )
    pattern = f"arn:aws:iam::{analytics.id}:role/AWSReservedSSO_DataEngineer_*"
    kp = add_statement(
        default_key_policy(data.id, [data.roles[SSO_ADMIN].arn]),
        key_user_statement(
            "AllowAnalyticsDataEngineers",
            f"arn:aws:iam::{analytics.id}:root",
            ["kms:Decrypt", "kms:DescribeKey"],
            condition={"ArnLike": {"aws:PrincipalArn": pattern}},
        ),
    )
    key = scn.key(data, "lake-exports", kp, description="Data lake exports", alias="alias/lake-exports")
    b = scn.base
    s = scn.session(eng, "ana.souza@example.com", m(b, -20), ip="203.0.113.77", ua=UA["cli"])
    # Identity Center's AssumeRoleWithSAML issued her credentials: it passed no session policy, so the session
    # layer is known and the corrected pattern can be proven
    scn.assume_role_with_saml(s, m(b, -20), provider=SSO_PROVIDER)
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"export": "2026-11-weekly"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "resource")),
    )
    scn.expect(e, "CONDITION_OTHER", ["CONDITION_OTHER"])
    for a in (data, analytics):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s38_wrong_assumed_role_intent(scn: Scenario) -> None:
    scn.readme = """
The billing account's key `alias/invoices` was set up for one principal: the key policy names the
`invoice-renderer` role (Lambda) for kms:Decrypt, the role's own identity policy names the key, and the
renderer decrypts invoices with it every few minutes (successful Decrypt records in the trail). An
engineer debugging a rendering problem runs the same Decrypt from the console's CloudShell with her
Identity Center `ReadOnly` role: denied. Her role's policies (ReadOnlyAccess) allow no kms:Decrypt, and
nothing was ever set up for her role on this key. The cause is not a missing IAM policy to add to a
read-only role: she called as the wrong principal (AWS KMS developer guide, "Key policies",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html; IAM User Guide, "Switching to an
IAM role (AWS CLI)", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-cli.html).
Verdict: WRONG_ASSUMED_ROLE, inferred from who the policies were set up for and who uses the key.
"""
    w = World(scn)
    billing = w.account("billing")
    reader = scn.role(
        billing,
        "AWSReservedSSO_ReadOnly_7d1e2c3b4a596877",
        trust_sso(billing.id),
        attached=[scn.aws_policy(billing, "ReadOnlyAccess")],
        path=SSO_PATH,
        created=scn.base - dt.timedelta(days=500),
    )
    renderer = app_role(scn, billing, "invoice-renderer", "lambda")
    kp = add_statement(
        default_key_policy(billing.id, [billing.roles[SSO_ADMIN].arn]),
        key_user_statement("AllowInvoiceRenderer", renderer.arn, ["kms:Decrypt"]),
    )
    key = scn.key(billing, "invoices", kp, description="Invoice PDFs", alias="alias/invoices")
    renderer.inline["invoices-key"] = kms_allow(key.arn, ["kms:Decrypt"], sid="DecryptInvoices")
    b = scn.base
    lam = service_session(
        scn, renderer, "invoice-renderer", m(b, -60), "lambda.amazonaws.com", ip="3.84.10.201", ua=UA["lambda-py"]
    )
    for i in range(4):
        scn.kms(lam, m(b, -55 + 12 * i), "Decrypt", key, key_ref=None, context={"invoice": f"INV-2026-{4410 + i}"})
    s = scn.session(reader, "sofia.rossi@example.com", m(b, -15), ip="198.51.100.61", ua=UA["cli"])
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"invoice": "INV-2026-4412"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e, "WRONG_ASSUMED_ROLE", ["WRONG_ASSUMED_ROLE"])
    w.background(billing, m(b, -30), 60)
    scn.collected_at = m(b, 30)



# ------------------------------------------------------------------ request context and intent (issue 15, rest)


def s40_key_tag_retagged(scn: Scenario) -> None:
    scn.readme = """
The reporting account shares its keys by tag (ABAC): the `atlas-report-builder` role (ECS) may use any
key of the account whose tag `project` is `atlas` (`StringEquals aws:ResourceTag/project = atlas` in its
identity policy, as in the AWS KMS developer guide, "Use tags to control access to KMS keys",
https://docs.aws.amazon.com/kms/latest/developerguide/tag-authorization.html, and "ABAC for AWS KMS",
https://docs.aws.amazon.com/kms/latest/developerguide/abac.html). The evidence was collected in the
morning, when the key `alias/atlas-weekly` still carried `project=atlas`. An hour before the failure a
key administrator retagged it `project=atlas-archive` (TagResource, in the trail; the tag's value is in
the record's `requestParameters.tags`, as in the AWS KMS developer guide's CloudTrail example,
https://docs.aws.amazon.com/kms/latest/developerguide/ct-tagresource.html). The builder decrypted with the
key before the retag and is refused after it. `aws:ResourceTag/project` is evaluated as of the event
time: the snapshot's `atlas`, moved forward by the TagResource record, is `atlas-archive`. Verdict:
CONDITION_OTHER on `aws:ResourceTag/project`; the fix is the key's tag (or the policy), not IAM.
"""
    w = World(scn)
    rep = w.account("reporting")
    role = app_role(
        scn,
        rep,
        "atlas-report-builder",
        "ecs",
        inline={
            "atlas-tagged-keys": kms_allow(
                f"arn:aws:kms:*:{rep.id}:key/*",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                sid="AtlasTaggedKeys",
                condition={"StringEquals": {"aws:ResourceTag/project": "atlas"}},
            )
        },
    )
    key = scn.key(
        rep,
        "atlas-weekly",
        default_key_policy(rep.id, [rep.roles[SSO_ADMIN].arn]),
        description="Atlas weekly reports",
        alias="alias/atlas-weekly",
    )
    key.tags = {"project": "atlas", "owner": "reporting-platform"}
    b = scn.base
    s = service_session(
        scn, role, "atlas-report-builder", m(b, -90), "ecs-tasks.amazonaws.com", ip="10.42.7.19", ua=UA["java"]
    )
    for i in range(2):
        scn.kms(s, m(b, -80 + 20 * i), "Decrypt", key, key_ref=None, context={"report": f"weekly-2026-4{6 + i}"})
    admin = w.admins[rep.id]
    scn.call(
        admin,
        m(b, -30),
        "kms.amazonaws.com",
        "TagResource",
        {"keyId": key.arn, "tags": [{"tagKey": "project", "tagValue": "atlas-archive"}]},
        resources=[{"accountId": rep.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
        read_only=False,
        version="1.08",
    )
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"report": "weekly-2026-48"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e, "CONDITION_OTHER", ["CONDITION_OTHER"])
    w.background(rep, m(b, -40), 60)
    scn.collected_at = m(b, -120)


def s41_wrong_assumed_role_identity_intent(scn: Scenario) -> None:
    scn.readme = """
The ledger account's key `alias/ledger-exports` has the console's default key policy: the account's root
(IAM policies decide for the account's principals) and the key administrators. What it was set up for
shows elsewhere: the `ledger-loader` role's own identity policy allows kms:Decrypt on this key by its ARN,
and the loader decrypts with it every few minutes (successful Decrypt records in the trail). A key
administrator, testing an export by hand with her own Identity Center role `KeyAdministrators`, calls
Decrypt: refused. Her role was given the key administrators' permissions (create, describe, enable,
put, tag, schedule deletion…), which on purpose do not include using the key (AWS KMS developer guide,
"Default key policy", "Allows key administrators to administer the KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators).
Adding kms:Decrypt to the administrators' role is not the fix: the call was made as the wrong principal,
inferred from another identity's policy and its successful use (IAM User Guide, "Switching to an IAM role
(AWS CLI)", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-cli.html). Verdict:
WRONG_ASSUMED_ROLE, naming `ledger-loader` and the identity policy that was set up for it.
"""
    w = World(scn)
    ledger = w.account("ledger")
    admin_actions = [a for a in KEY_ADMIN_ACTIONS if a != "kms:RotateKeyOnDemand"]  # without on-demand rotation
    key_admins = scn.role(
        ledger,
        "AWSReservedSSO_KeyAdministrators_4e8a2d61c0b9f735",
        trust_sso(ledger.id),
        inline={
            "AwsSSOInlinePolicy": policy(
                {"Sid": "KeyAdministration", "Effect": "Allow", "Action": admin_actions, "Resource": "*"}
            )
        },
        path=SSO_PATH,
        created=scn.base - dt.timedelta(days=400),
    )
    key = scn.key(
        ledger,
        "ledger-exports",
        default_key_policy(ledger.id, [key_admins.arn]),
        description="Ledger exports",
        alias="alias/ledger-exports",
    )
    loader = app_role(
        scn,
        ledger,
        "ledger-loader",
        "lambda",
        inline={"ledger-exports-key": kms_allow(key.arn, ["kms:Decrypt"], sid="DecryptLedgerExports")},
    )
    b = scn.base
    lam = service_session(
        scn, loader, "ledger-loader", m(b, -70), "lambda.amazonaws.com", ip="3.84.22.9", ua=UA["lambda-py"]
    )
    for i in range(3):
        scn.kms(lam, m(b, -65 + 15 * i), "Decrypt", key, key_ref=None, context={"export": f"2026-11-{20 + i}"})
    s = scn.session(key_admins, "nadia.haddad@example.com", m(b, -10), ip="198.51.100.88", ua=UA["cli"])
    e = scn.kms(
        s,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"export": "2026-11-22"},
        error=("AccessDenied", denied_message(s.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e, "WRONG_ASSUMED_ROLE", ["WRONG_ASSUMED_ROLE"])
    w.background(ledger, m(b, -40), 60)
    scn.collected_at = m(b, 30)


def s42_resolved_since_grant(scn: Scenario) -> None:
    scn.readme = """
The media account's `thumbnailer` Lambda reads originals encrypted under `alias/media-originals`, a key
with the console's default key policy (the account's root and the key administrators). Nothing gives the
role kms:Decrypt: its identity policies allow S3 only, so its first Decrypt is refused. Fifteen minutes
later an administrator creates a grant for the role with the Decrypt operation (a grant is a policy
instrument of its own: AWS KMS developer guide, "Grants in AWS KMS",
https://docs.aws.amazon.com/kms/latest/developerguide/grants.html, and its CreateGrant CloudTrail example,
https://docs.aws.amazon.com/kms/latest/developerguide/ct-creategrant.html), and the next Decrypt
succeeds. The bundle was collected after the grant. The policies in force now allow the call, whatever
layer changed: the verdict is RESOLVED_SINCE, with the cause at the time of the failure
(IAM_POLICY_MISSING) kept in the findings.
"""
    w = World(scn)
    media = w.account("media")
    role = app_role(
        scn, media, "thumbnailer", "lambda", attached=[scn.aws_policy(media, "AmazonS3ReadOnlyAccess")]
    )
    key = scn.key(
        media,
        "media-originals",
        default_key_policy(media.id, [media.roles[SSO_ADMIN].arn]),
        description="Original media uploads",
        alias="alias/media-originals",
    )
    b = scn.base
    lam = service_session(
        scn, role, "thumbnailer", m(b, -5), "lambda.amazonaws.com", ip="3.91.40.12", ua=UA["lambda-py"]
    )
    e = scn.kms(
        lam,
        m(b, 0),
        "Decrypt",
        key,
        key_ref=None,
        context={"object": "originals/2026/11/IMG_2231.heic"},
        error=("AccessDenied", denied_message(lam.arn, "kms:Decrypt", None, "identity")),
    )
    scn.expect(e, "RESOLVED_SINCE", ["RESOLVED_SINCE", "IAM_POLICY_MISSING"])
    admin = w.admins[media.id]
    gid = "".join(c for c in uid(scn.slug, "grant") if c != "-") * 2
    scn.call(
        admin,
        m(b, 15),
        "kms.amazonaws.com",
        "CreateGrant",
        {"keyId": key.arn, "granteePrincipal": role.arn, "operations": ["Decrypt"], "name": "thumbnailer-read"},
        response={"grantId": gid, "keyId": key.arn},
        read_only=False,
        version="1.11",
        resources=[{"accountId": media.id, "type": "AWS::KMS::Key", "ARN": key.arn}],
    )
    key.grants.append(Grant(gid, role.arn, ["Decrypt"], m(b, 15), name="thumbnailer-read"))
    scn.kms(lam, m(b, 20), "Decrypt", key, key_ref=None, context={"object": "originals/2026/11/IMG_2232.heic"})
    w.background(media, m(b, -30), 90)
    scn.collected_at = m(b, 40)


def s43_service_linked_role_cross_account_key(scn: Scenario) -> None:
    scn.readme = """
The compute account's Auto Scaling group launches instances whose EBS volumes are encrypted with a
customer managed key of the security account, `alias/ebs-shared`. The key policy allows the compute
account to use the key and to create grants (the statements of the Amazon EC2 Auto Scaling User Guide,
"Required AWS KMS key policy for use with encrypted volumes",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html). The
guide's last step for a key in another account was not done: a grant, created in the compute account, to
the Auto Scaling service-linked role. EC2 calls KMS with that role's credentials (`invokedBy`
ec2.amazonaws.com) and is refused: the role's only policy is the AWS managed
AutoScalingServiceRolePolicy (abridged here), which gives no KMS access to another account's key. A
service-linked role cannot be edited (IAM User Guide, "Using service-linked roles",
https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html): the fix is the grant,
scoped to the failing request's own encryption context, never an inline policy on the role. Verdict:
IAM_POLICY_MISSING, with a CreateGrant as its fix.
"""
    w = World(scn)
    security = w.account("security", ou=w.ou_security)
    compute = w.account("compute")
    policy_arn = "arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"
    compute.managed[policy_arn] = ManagedPolicy(
        "AutoScalingServiceRolePolicy",
        policy_arn,
        policy(
            {
                "Sid": "EC2InstanceManagement",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:TerminateInstances", "ec2:CreateTags", "ec2:Describe*"],
                "Resource": "*",
            }
        ),
        "ANPA" + b32(17, "aws-policy", "AutoScalingServiceRolePolicy"),
        dt.datetime(2018, 1, 8, 23, 10, 55, tzinfo=UTC),
        aws_managed=True,
        version="v9",
        path="/aws-service-role/",
    )
    slr = scn.role(
        compute,
        "AWSServiceRoleForAutoScaling",
        policy(
            {"Effect": "Allow", "Principal": {"Service": "autoscaling.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
        attached=[policy_arn],
        path="/aws-service-role/autoscaling.amazonaws.com/",
        created=scn.base - dt.timedelta(days=300),
    )
    uses = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    kp = add_statement(
        add_statement(
            default_key_policy(security.id, [security.roles[SSO_ADMIN].arn]),
            key_user_statement("AllowExternalAccountUseOfTheKey", f"arn:aws:iam::{compute.id}:root", uses),
        ),
        key_user_statement(
            "AllowAttachmentOfPersistentResourcesInExternalAccount",
            f"arn:aws:iam::{compute.id}:root",
            ["kms:CreateGrant"],
        ),
    )
    key = scn.key(security, "ebs-shared", kp, description="Shared EBS encryption key", alias="alias/ebs-shared")
    b = scn.base
    s = service_session(
        scn,
        slr,
        "AutoScaling",
        m(b, -2),
        "autoscaling.amazonaws.com",
        ip="autoscaling.amazonaws.com",
        ua="autoscaling.amazonaws.com",
    )
    volume = "vol-0c4f2e19a7d35b861"
    e = scn.kms(
        s,
        m(b, 0),
        "GenerateDataKeyWithoutPlaintext",
        key,
        key_ref="arn",
        context={"aws:ebs:id": volume},
        region="us-east-1",
        invoked_by="ec2.amazonaws.com",
        error=("AccessDenied", denied_message(s.arn, "kms:GenerateDataKeyWithoutPlaintext", key.arn, "identity")),
    )
    scn.expect(e, "IAM_POLICY_MISSING", ["IAM_POLICY_MISSING"])
    for a in (security, compute):
        w.background(a, m(b, -30), 60)
    scn.collected_at = m(b, 30)


def s39_not_authorization(scn: Scenario) -> None:
    scn.readme = """
A morning of failures in the platform account that are not access refusals, and one that is not KMS at
all. `signer` calls Sign with the encryption key `alias/invoices` (InvalidKeyUsageException: an
ENCRYPT_DECRYPT key cannot sign); `billing` decrypts with KeyId `alias/invoices` data that `alias/ledger`
encrypted (IncorrectKeyException); `billing` decrypts a ciphertext without the encryption context it was
made with (InvalidCiphertextException); Encrypt with `alias/hyok` fails because its external key store
proxy is unreachable (KMSInvalidStateException naming the external key store); GenerateDataKey with
`alias/imported` fails because its key material was never imported (pending import); the console asks for
a bucket's lifecycle configuration (NoSuchLifecycleConfiguration: there is none, nothing was refused); and
`signer` may not assume the audit role (sts AssumeRole AccessDenied: kmsdiag explains KMS and S3 only).
None of these is fixed by a key policy or an IAM policy; each code says what is.
"""
    w = World(scn)
    pf = w.account("platform")
    admins = [pf.roles[SSO_ADMIN].arn]
    signer = app_role(scn, pf, "signer", "lambda")
    billing = app_role(scn, pf, "billing", "ecs")
    kp_inv = add_statement(default_key_policy(pf.id, admins), key_user_statement("AllowApps", signer.arn))
    invoices = scn.key(pf, "invoices", kp_inv, description="Invoices", alias="alias/invoices")
    ledger = scn.key(pf, "ledger", default_key_policy(pf.id, admins), description="Ledger", alias="alias/ledger")
    hyok = scn.key(pf, "hyok", default_key_policy(pf.id, admins), description="HYOK (XKS)", alias="alias/hyok")
    imported = scn.key(
        pf,
        "imported",
        default_key_policy(pf.id, admins),
        description="BYOK, material not imported",
        alias="alias/imported",
        state="PendingImport",
    )
    everything = [invoices.arn, ledger.arn, hyok.arn, imported.arn]
    signer.inline["keys"] = kms_allow(everything, ["kms:Sign", "kms:Encrypt", "kms:GenerateDataKey"])
    billing.inline["keys"] = kms_allow(everything, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
    b = scn.base
    s1 = service_session(scn, signer, "signer", m(b, -5), "lambda.amazonaws.com", ip="3.80.9.21", ua=UA["lambda-py"])
    s2 = service_session(scn, billing, "billing-7f3e", m(b, -5), "ecs-tasks.amazonaws.com", ip="10.4.2.9", ua=UA["go"])
    e = scn.kms(
        s1,
        m(b, 0),
        "Sign",
        invoices,
        key_ref="alias/invoices",
        extra_request={"messageType": "RAW", "signingAlgorithm": "RSASSA_PSS_SHA_256"},
        error=("InvalidKeyUsageException", f"{invoices.arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign."),
    )
    scn.expect(e, "KEY_USAGE_MISMATCH", ["KEY_USAGE_MISMATCH"])
    e = scn.kms(
        s2,
        m(b, 2),
        "Decrypt",
        invoices,
        key_ref="alias/invoices",
        context={"invoice": "2026-11-0042"},
        error=("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation."),
    )
    scn.expect(e, "WRONG_KEY_FOR_CIPHERTEXT", ["WRONG_KEY_FOR_CIPHERTEXT"])
    e = scn.kms(s2, m(b, 4), "Decrypt", ledger, key_ref=None, error=("InvalidCiphertextException", None))
    scn.expect(e, "INVALID_CIPHERTEXT", ["INVALID_CIPHERTEXT"])
    e = scn.kms(
        s1,
        m(b, 6),
        "Encrypt",
        hyok,
        key_ref="alias/hyok",
        error=(
            "KMSInvalidStateException",
            f"{hyok.arn} is unavailable: the external key store proxy did not respond (XKS proxy unreachable).",
        ),
    )
    scn.expect(e, "CUSTOM_KEY_STORE_UNAVAILABLE", ["CUSTOM_KEY_STORE_UNAVAILABLE"])
    e = scn.kms(
        s1,
        m(b, 8),
        "GenerateDataKey",
        imported,
        key_ref="alias/imported",
        error=("KMSInvalidStateException", f"{imported.arn} is pending import."),
    )
    scn.expect(e, "KEY_STATE_OTHER", ["KEY_STATE_OTHER"])
    bucket = f"platform-artifacts-{pf.id}"
    scn.bucket(pf, bucket)
    admin = w.admins[pf.id]
    lc = scn.record(
        pf.id,
        t=m(b, 10),
        source="s3.amazonaws.com",
        name="GetBucketLifecycle",
        region="us-east-1",
        identity=admin.identity(),
        ip=admin.ip,
        ua="[S3Console/0.4]",
        request={"bucketName": bucket, "Host": "s3.amazonaws.com", "lifecycle": ""},
        response=None,
        error=("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
        resources=[{"accountId": pf.id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        read_only=True,
    )
    scn.expect(lc["eventID"], "NOT_ACCESS_FAILURE", ["NOT_ACCESS_FAILURE"])
    audit_role = f"arn:aws:iam::{pf.id}:role/audit-readonly"
    ar = scn.call(
        s1,
        m(b, 12),
        "sts.amazonaws.com",
        "AssumeRole",
        {"roleArn": audit_role, "roleSessionName": "signer-audit"},
        error=(
            "AccessDenied",
            f"User: {s1.arn} is not authorized to perform: sts:AssumeRole on resource: {audit_role}",
        ),
    )
    scn.expect(ar["eventID"], "OTHER_SERVICE", ["OTHER_SERVICE"])
    w.background(pf, m(b, -30), 60)
    scn.collected_at = m(b, 30)


SCENARIOS: list[tuple[str, str, Callable[[Scenario], None]]] = [
    (
        "01-guide-walkthrough",
        "The guide's walk-through: DataProcessingRole and a key in another account",
        s01_guide_walkthrough,
    ),
    ("02-key-policy-no-principal", "The key policy names someone else", s02_key_policy_no_principal),
    ("03-key-policy-no-action", "The key policy names the role, but not kms:Decrypt", s03_key_policy_no_action),
    (
        "04-key-policy-principal-typo",
        "Two digits swapped in the key policy's account ID",
        s04_key_policy_principal_typo,
    ),
    (
        "05-key-policy-root-delegation-missing",
        "Same account, no root statement: IAM policies do not count",
        s05_root_delegation_missing,
    ),
    (
        "06-key-policy-principal-orphaned",
        "Role deleted and recreated: the key policy holds the old unique ID",
        s06_principal_orphaned,
    ),
    ("07-iam-policy-missing", "The key policy allows the role; its IAM policies do not", s07_iam_policy_missing),
    ("08-iam-resource-alias-arn", "IAM names the alias ARN instead of the key ARN", s08_iam_resource_alias_arn),
    ("09-iam-resource-other-region", "IAM names the key ID in another region", s09_iam_resource_other_region),
    ("10-wrong-region", "Same alias, other region: NotFoundException", s10_wrong_region),
    ("11-wrong-assumed-role", "Staging's OrdersService is not production's", s11_wrong_assumed_role),
    ("12-key-policy-overwritten", "CloudFormation replaced the key policy", s12_key_policy_overwritten),
    ("13-condition-via-service", "kms:ViaService allows S3, not a direct call", s13_condition_via_service),
    (
        "14-condition-encryption-context",
        "The encryption context changed in version 2",
        s14_condition_encryption_context,
    ),
    ("15-condition-other", "aws:SourceVpce: from the VPC yes, from a laptop no", s15_condition_other),
    ("16-explicit-deny", "Explicit denies: in the key policy and in an identity policy", s16_explicit_deny),
    ("17-scp-no-allow", "An allow-list SCP without KMS", s17_scp_no_allow),
    ("18-rcp-no-allow", "No resource control policy allows KMS at the key's OU", s18_rcp_no_allow),
    ("19-permission-boundary", "The permissions boundary has no KMS", s19_permission_boundary),
    ("20-session-policy", "A session policy passed at AssumeRole leaves KMS out", s20_session_policy),
    ("21-grant-missing", "The grant the worker relied on was revoked", s21_grant_missing),
    ("22-create-grant-missing", "EC2 needs kms:CreateGrant for an encrypted EBS volume", s22_create_grant_missing),
    (
        "23-aws-managed-key-cross-account",
        "aws/s3 cannot be shared with another account",
        s23_aws_managed_key_cross_account,
    ),
    ("24-key-disabled", "The key was disabled", s24_key_disabled),
    ("25-key-pending-deletion", "The key is pending deletion", s25_key_pending_deletion),
    ("26-key-not-found", "The key was deleted", s26_key_not_found),
    ("27-s3-bucket-policy-missing", "S3 refused at the bucket policy, before KMS", s27_s3_bucket_policy_missing),
    ("28-resolved-since", "Fixed fifteen minutes later: the bundle is newer than the failure", s28_resolved_since),
    ("29-unknown", "The key owner's key policy could not be read", s29_unknown),
    ("30-explicit-deny-scp", "An SCP denies the region of the replica key", s30_explicit_deny_scp),
    (
        "31-wrong-assumed-role-user",
        "An IAM user instead of the role that the key policy names",
        s31_wrong_assumed_role_user,
    ),
    (
        "32-key-policy-principal-typo-digit",
        "One wrong digit in the key policy's account ID",
        s32_key_policy_principal_typo_digit,
    ),
    ("33-principal-tag-abac", "A key shared by principal tag: the tag holds, IAM is missing", s33_principal_tag_abac),
    ("34-org-path-moved", "aws:PrincipalOrgPaths after the account moved to another OU", s34_org_path_moved),
    (
        "35-service-principal-source-arn",
        "EventBridge refused: aws:SourceArn names the old rule",
        s35_service_principal_source_arn,
    ),
    ("36-wrong-region-arn", "A key ARN built with the caller's own region", s36_wrong_region_arn),
    (
        "37-condition-principal-arn-path",
        "aws:PrincipalArn pattern without the Identity Center role path",
        s37_condition_principal_arn_path,
    ),
    (
        "38-wrong-assumed-role-intent",
        "A read-only engineer decrypts with a key set up for the renderer role",
        s38_wrong_assumed_role_intent,
    ),
    ("39-not-authorization", "Failures that are not access refusals, and one that is not KMS", s39_not_authorization),
    ("40-key-tag-retagged", "aws:ResourceTag as of the event: the key was retagged", s40_key_tag_retagged),
    (
        "41-wrong-assumed-role-identity-intent",
        "A key administrator decrypts with a key set up, by an identity policy, for the loader role",
        s41_wrong_assumed_role_identity_intent,
    ),
    ("42-resolved-since-grant", "Fixed by a grant fifteen minutes later", s42_resolved_since_grant),
    (
        "43-service-linked-role-cross-account-key",
        "Auto Scaling's service-linked role and another account's EBS key: a grant, not a policy",
        s43_service_linked_role_cross_account_key,
    ),
]


def build(out: Path = OUT) -> dict[str, int]:
    counts = {}
    for i, (slug, title, fn) in enumerate(SCENARIOS):
        base = dt.datetime(2026, 11, 1, 9, 0, tzinfo=UTC) + dt.timedelta(
            hours=19 * i, minutes=(7 * i) % 50, seconds=(37 * i + 11) % 60
        )
        scn = Scenario(slug, title, base)
        fn(scn)
        counts[slug] = write_scenario(scn, out)
    return counts


if __name__ == "__main__":
    res = build()
    print(f"{len(res)} scenarios written to {OUT}")
