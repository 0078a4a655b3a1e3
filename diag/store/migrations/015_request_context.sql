-- Request context (aws:PrincipalTag/*, aws:PrincipalOrgID): what a snapshot knows beyond the policies.
-- principal_tags: a role's or user's tags as get-account-authorization-details listed them, as a JSON object
-- {key: value} ({} = no tags). No row for a principal: its tags are unknown (never "no tags").
CREATE TABLE IF NOT EXISTS principal_tags (
    snapshot_id  BIGINT NOT NULL,
    account      VARCHAR NOT NULL,
    arn          VARCHAR NOT NULL,
    tags         JSON NOT NULL,
    PRIMARY KEY (snapshot_id, arn)
);
CREATE INDEX IF NOT EXISTS principal_tags_arn ON principal_tags (arn);
-- org_ids: the organization ID (o-...) of an account, from its describe-organization.json.
CREATE TABLE IF NOT EXISTS org_ids (
    snapshot_id  BIGINT NOT NULL,
    account      VARCHAR NOT NULL,
    org_id       VARCHAR NOT NULL,
    PRIMARY KEY (snapshot_id, account)
);
