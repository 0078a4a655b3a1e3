-- Policy snapshots (kmsdiag collect): every collection, live or from an evidence bundle, is one snapshot
-- with its own snapshot_id and collected_at (UTC). Earlier snapshots stay: every policy table is keyed by
-- snapshot_id. A refused or missing call is a row in collection_gaps, never an empty policy.

CREATE SEQUENCE IF NOT EXISTS snapshot_id_seq START 1;

CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id   BIGINT PRIMARY KEY,
    collected_at  TIMESTAMP NOT NULL,     -- when the policies were read (manifest.json for a bundle)
    source        VARCHAR NOT NULL,       -- live, bundle
    source_path   VARCHAR,                -- the bundle folder (live: the --out-dir, if any)
    accounts      VARCHAR[],              -- accounts this snapshot covers
    loaded_at     TIMESTAMP NOT NULL,
    tool_version  VARCHAR
);
CREATE INDEX IF NOT EXISTS snapshots_collected_at ON snapshots (collected_at);

-- One row per (snapshot, account): lets "the nearest snapshot of account A before t" be one index lookup.
CREATE TABLE IF NOT EXISTS snapshot_accounts (
    snapshot_id   BIGINT NOT NULL,
    account       VARCHAR NOT NULL,
    collected_at  TIMESTAMP NOT NULL,
    regions       VARCHAR[],              -- KMS regions collected in this account
    org_state     VARCHAR,                -- in_org, not_in_org, unknown (Organizations not readable here)
    management_account VARCHAR,           -- the organization's management account (SCPs do not apply to it)
    PRIMARY KEY (snapshot_id, account)
);
CREATE INDEX IF NOT EXISTS snapshot_accounts_account ON snapshot_accounts (account);

-- KMS keys as DescribeKey returned them.
CREATE TABLE IF NOT EXISTS keys (
    snapshot_id        BIGINT NOT NULL,
    account            VARCHAR NOT NULL,
    region             VARCHAR NOT NULL,
    key_id             VARCHAR NOT NULL,
    key_arn            VARCHAR NOT NULL,
    key_state          VARCHAR,
    key_manager        VARCHAR,            -- CUSTOMER, AWS
    key_usage          VARCHAR,
    key_spec           VARCHAR,
    origin             VARCHAR,
    enabled            BOOLEAN,
    multi_region       BOOLEAN,
    multi_region_type  VARCHAR,            -- PRIMARY, REPLICA
    primary_key_arn    VARCHAR,
    description        VARCHAR,
    creation_date      TIMESTAMP,
    deletion_date      TIMESTAMP,
    metadata           JSON,               -- KeyMetadata as printed by the AWS CLI
    PRIMARY KEY (snapshot_id, key_arn)
);
CREATE INDEX IF NOT EXISTS keys_key_arn ON keys (key_arn);
CREATE INDEX IF NOT EXISTS keys_key_id ON keys (key_id);

CREATE TABLE IF NOT EXISTS key_policies (
    snapshot_id  BIGINT NOT NULL,
    account      VARCHAR NOT NULL,
    region       VARCHAR NOT NULL,
    key_arn      VARCHAR NOT NULL,
    policy_name  VARCHAR NOT NULL,         -- always "default" today
    policy       JSON NOT NULL,            -- the policy document (parsed from GetKeyPolicy's string)
    PRIMARY KEY (snapshot_id, key_arn, policy_name)
);
CREATE INDEX IF NOT EXISTS key_policies_key_arn ON key_policies (key_arn);

CREATE TABLE IF NOT EXISTS grants (
    snapshot_id        BIGINT NOT NULL,
    account            VARCHAR NOT NULL,
    region             VARCHAR NOT NULL,
    key_arn            VARCHAR NOT NULL,
    grant_id           VARCHAR NOT NULL,
    name               VARCHAR,
    grantee_principal  VARCHAR,
    retiring_principal VARCHAR,
    issuing_account    VARCHAR,
    operations         VARCHAR[],
    constraints        JSON,
    creation_date      TIMESTAMP,
    raw                JSON,
    PRIMARY KEY (snapshot_id, key_arn, grant_id)
);
CREATE INDEX IF NOT EXISTS grants_key_arn ON grants (key_arn);

CREATE TABLE IF NOT EXISTS aliases (
    snapshot_id     BIGINT NOT NULL,
    account         VARCHAR NOT NULL,
    region          VARCHAR NOT NULL,
    alias_name      VARCHAR NOT NULL,      -- alias/name
    alias_arn       VARCHAR,
    target_key_id   VARCHAR,               -- NULL for an alias not pointing at a key (AWS-managed, not created yet)
    target_key_arn  VARCHAR,
    PRIMARY KEY (snapshot_id, account, region, alias_name)
);
CREATE INDEX IF NOT EXISTS aliases_alias_name ON aliases (alias_name);
CREATE INDEX IF NOT EXISTS aliases_alias_arn ON aliases (alias_arn);

-- IAM roles, users and groups (get-account-authorization-details).
CREATE TABLE IF NOT EXISTS principals (
    snapshot_id              BIGINT NOT NULL,
    account                  VARCHAR NOT NULL,
    kind                     VARCHAR NOT NULL,   -- role, user, group
    name                     VARCHAR NOT NULL,
    arn                      VARCHAR NOT NULL,
    path                     VARCHAR,
    unique_id                VARCHAR,            -- AROA..., AIDA..., AGPA...
    create_date              TIMESTAMP,
    permissions_boundary_arn VARCHAR,
    trust_policy             JSON,               -- roles: AssumeRolePolicyDocument
    groups                   VARCHAR[],          -- users: group names
    attached_policy_arns     VARCHAR[],          -- managed policies attached directly
    PRIMARY KEY (snapshot_id, arn)
);
CREATE INDEX IF NOT EXISTS principals_arn ON principals (arn);
CREATE INDEX IF NOT EXISTS principals_name ON principals (name);
CREATE INDEX IF NOT EXISTS principals_unique_id ON principals (unique_id);

-- Inline policies of roles, users and groups (managed attachments are principals.attached_policy_arns).
CREATE TABLE IF NOT EXISTS identity_policies (
    snapshot_id     BIGINT NOT NULL,
    account         VARCHAR NOT NULL,
    principal_arn   VARCHAR NOT NULL,
    principal_kind  VARCHAR NOT NULL,      -- role, user, group
    policy_name     VARCHAR NOT NULL,
    document        JSON NOT NULL,
    PRIMARY KEY (snapshot_id, principal_arn, policy_name)
);
CREATE INDEX IF NOT EXISTS identity_policies_principal ON identity_policies (principal_arn);

-- Managed policies, one row per version (the default version is the one in force).
CREATE TABLE IF NOT EXISTS managed_policies (
    snapshot_id        BIGINT NOT NULL,
    account            VARCHAR NOT NULL,
    policy_arn         VARCHAR NOT NULL,
    policy_name        VARCHAR,
    policy_id          VARCHAR,
    version_id         VARCHAR NOT NULL,
    is_default         BOOLEAN NOT NULL,
    document           JSON,
    attachment_count   INTEGER,
    PRIMARY KEY (snapshot_id, policy_arn, version_id)
);
CREATE INDEX IF NOT EXISTS managed_policies_arn ON managed_policies (policy_arn);

-- S3 buckets: policy, default encryption and location. has_policy false = collected, and there is none.
CREATE TABLE IF NOT EXISTS bucket_policies (
    snapshot_id      BIGINT NOT NULL,
    account          VARCHAR NOT NULL,
    bucket           VARCHAR NOT NULL,
    region           VARCHAR,              -- from get-bucket-location (NULL LocationConstraint = us-east-1)
    policy_known     BOOLEAN NOT NULL,     -- false: the policy was not collected (see collection_gaps)
    policy           JSON,                 -- NULL with policy_known: the bucket has no policy
    encryption_known BOOLEAN NOT NULL,
    encryption       JSON,                 -- ServerSideEncryptionConfiguration
    PRIMARY KEY (snapshot_id, bucket)
);
CREATE INDEX IF NOT EXISTS bucket_policies_bucket ON bucket_policies (bucket);

-- Organizations: SCPs and RCPs (describe-policy), their targets, and each child's parents.
CREATE TABLE IF NOT EXISTS org_policies (
    snapshot_id   BIGINT NOT NULL,
    account       VARCHAR NOT NULL,        -- the account that read them (management or delegated admin)
    policy_id     VARCHAR NOT NULL,
    policy_type   VARCHAR,                 -- SERVICE_CONTROL_POLICY, RESOURCE_CONTROL_POLICY
    name          VARCHAR,
    arn           VARCHAR,
    aws_managed   BOOLEAN,
    document      JSON,
    PRIMARY KEY (snapshot_id, policy_id)
);

CREATE TABLE IF NOT EXISTS org_policy_targets (
    snapshot_id   BIGINT NOT NULL,
    account       VARCHAR NOT NULL,
    policy_id     VARCHAR NOT NULL,
    target_id     VARCHAR NOT NULL,        -- r-..., ou-..., or an account ID
    target_type   VARCHAR,                 -- ROOT, ORGANIZATIONAL_UNIT, ACCOUNT
    target_name   VARCHAR,
    target_arn    VARCHAR,
    PRIMARY KEY (snapshot_id, policy_id, target_id)
);
CREATE INDEX IF NOT EXISTS org_policy_targets_target ON org_policy_targets (target_id);

CREATE TABLE IF NOT EXISTS org_paths (
    snapshot_id   BIGINT NOT NULL,
    account       VARCHAR NOT NULL,
    child_id      VARCHAR NOT NULL,        -- an account ID or ou-...
    parent_id     VARCHAR NOT NULL,
    parent_type   VARCHAR,                 -- ROOT, ORGANIZATIONAL_UNIT
    PRIMARY KEY (snapshot_id, child_id, parent_id)
);
CREATE INDEX IF NOT EXISTS org_paths_child ON org_paths (child_id);

-- What was not collected: a refused call (errors.json) or a missing bundle file.
CREATE TABLE IF NOT EXISTS collection_gaps (
    snapshot_id     BIGINT NOT NULL,
    account         VARCHAR,
    region          VARCHAR,
    what            VARCHAR NOT NULL,      -- key_policy, grants, aliases, key, keys, identity, bucket_policy, bucket_encryption, org ...
    call            VARCHAR,               -- e.g. "kms get-key-policy"
    resource        VARCHAR,               -- key ARN, bucket, policy ID, region...
    error           VARCHAR,               -- AccessDeniedException, missing file, ...
    message         VARCHAR,
    how_to_collect  VARCHAR                -- the aws CLI command that fills the gap
);
CREATE INDEX IF NOT EXISTS collection_gaps_resource ON collection_gaps (resource);

-- Policy history: successful policy-changing CloudTrail events, who made them and what they set.
CREATE TABLE IF NOT EXISTS policy_changes (
    event_id        VARCHAR PRIMARY KEY,
    event_time      TIMESTAMP NOT NULL,
    event_source    VARCHAR,
    event_name      VARCHAR NOT NULL,
    account         VARCHAR,               -- the account whose resource changed
    region          VARCHAR,
    resource_type   VARCHAR,               -- kms_key, iam_role, iam_user, iam_policy, s3_bucket, org_policy
    resource_arn    VARCHAR,               -- key ARN, role/user ARN, policy ARN, arn:aws:s3:::bucket, policy ID
    resource_name   VARCHAR,               -- role/user name, bucket, inline policy name ...
    policy_name     VARCHAR,               -- inline policy name, managed policy ARN, grant ID ...
    document        JSON,                  -- the new document (key/bucket/inline/managed/org policy), if any
    details         JSON,                  -- the other request/response fields that matter (grant, state, target)
    actor_arn       VARCHAR,               -- userIdentity.arn
    actor_type      VARCHAR,
    invoked_by      VARCHAR,               -- e.g. cloudformation.amazonaws.com
    user_agent      VARCHAR,
    source_ip       VARCHAR,
    summary         VARCHAR
);
CREATE INDEX IF NOT EXISTS policy_changes_resource ON policy_changes (resource_arn);
CREATE INDEX IF NOT EXISTS policy_changes_time ON policy_changes (event_time);
CREATE INDEX IF NOT EXISTS policy_changes_name ON policy_changes (resource_name);
