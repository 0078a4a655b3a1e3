-- Request context (aws:PrincipalTag/*, aws:PrincipalOrgID, aws:PrincipalOrgPaths): what the snapshot knows.
-- principals.tags: the role's or user's tags as get-account-authorization-details listed them, as a JSON
-- object {key: value}; NULL for rows loaded before this column existed (tags unknown, never "no tags").
ALTER TABLE principals ADD COLUMN IF NOT EXISTS tags JSON;
-- snapshot_accounts.org_id: the organization ID (o-...) from describe-organization.json; NULL: unknown or
-- not in an organization (org_state says which).
ALTER TABLE snapshot_accounts ADD COLUMN IF NOT EXISTS org_id VARCHAR;
