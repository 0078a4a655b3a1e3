-- Core tables: key/value metadata, the normalized CloudTrail events, and what was ingested.
-- Times are TIMESTAMP in UTC (no time zone attached) everywhere in kmsdiag.

CREATE TABLE IF NOT EXISTS meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR
);

-- One row per distinct CloudTrail eventID. Only KMS, S3 and the policy/identity events that diagnosis
-- needs are stored; everything else is counted in ingested_files and dropped.
CREATE TABLE IF NOT EXISTS events (
    event_id            VARCHAR PRIMARY KEY,
    event_time          TIMESTAMP,
    event_version       VARCHAR,
    event_source        VARCHAR,      -- kms.amazonaws.com, s3.amazonaws.com, iam.amazonaws.com, ...
    event_name          VARCHAR,      -- Decrypt, GenerateDataKey, PutKeyPolicy, ...
    event_type          VARCHAR,      -- AwsApiCall, AwsServiceEvent, ...
    aws_region          VARCHAR,
    source_ip           VARCHAR,
    user_agent          VARCHAR,
    error_code          VARCHAR,      -- NULL on success
    error_message       VARCHAR,
    caller_arn          VARCHAR,      -- the session/user ARN as CloudTrail gives it (NULL for AWSAccount copies)
    caller_type         VARCHAR,      -- userIdentity.type: AssumedRole, IAMUser, Root, AWSAccount, AWSService, FederatedUser, ...
    caller_account      VARCHAR,
    caller_principal_id VARCHAR,
    caller_role_arn     VARCHAR,      -- AssumedRole: sessionContext.sessionIssuer.arn (the role); else the user/root ARN
    caller_session_name VARCHAR,
    invoked_by          VARCHAR,      -- userIdentity.invokedBy: the AWS service that acted (s3.amazonaws.com, AWS Internal, ...)
    recipient_account   VARCHAR,      -- the account whose trail logged this copy
    shared_event_id     VARCHAR,      -- the same call seen from the other account
    request_id          VARCHAR,
    key_arn             VARCHAR,      -- resolved key ARN when known (resources[] or an ARN keyId)
    key_id_given        VARCHAR,      -- requestParameters.keyId exactly as given (ID, alias, ARN) or NULL
    key_account         VARCHAR,      -- account that owns the key, when known
    bucket              VARCHAR,      -- S3 events: requestParameters.bucketName
    vpc_endpoint_id     VARCHAR,
    read_only           BOOLEAN,
    management_event    BOOLEAN,
    encryption_context  JSON,         -- requestParameters.encryptionContext
    raw                 JSON,         -- the CloudTrail record itself
    source_file         VARCHAR,
    ingested_at         TIMESTAMP
);

CREATE INDEX IF NOT EXISTS events_shared_event_id ON events (shared_event_id);
CREATE INDEX IF NOT EXISTS events_request_id ON events (request_id);

-- Every input (file, S3 object, API page) that was read: counts, and why it was refused.
CREATE TABLE IF NOT EXISTS ingested_files (
    path              VARCHAR PRIMARY KEY,  -- local path, s3://bucket/key, lookup:<account>/<region>/<window>, ...
    source            VARCHAR,              -- file, s3, lookup, athena, event-file
    size_bytes        BIGINT,
    mtime             DOUBLE,               -- local files: modification time (re-read when it changes)
    etag              VARCHAR,              -- S3 objects
    status            VARCHAR NOT NULL,     -- ok, refused, digest
    reason            VARCHAR,              -- why it was refused
    records_total     BIGINT DEFAULT 0,
    records_kept      BIGINT DEFAULT 0,
    records_duplicate BIGINT DEFAULT 0,
    records_skipped   BIGINT DEFAULT 0,
    ingested_at       TIMESTAMP
);
