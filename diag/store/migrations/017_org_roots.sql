-- The organization's roots as ListRoots showed them to a snapshot, with the policy types enabled on each:
-- policy_types is a JSON object {"SERVICE_CONTROL_POLICY": "ENABLED", ...} ({} = no policy type enabled).
-- This is the evidence that SCPs or RCPs are not in use (a type absent from a listed root is not enabled: no
-- policy of that type applies). No row for a snapshot: the roots were not collected, and that a type is not
-- in use is never concluded from policies merely missing from the bundle.
CREATE TABLE IF NOT EXISTS org_roots (
    snapshot_id   BIGINT NOT NULL,
    account       VARCHAR NOT NULL,        -- the account that read them (management or delegated admin)
    root_id       VARCHAR NOT NULL,        -- r-...
    policy_types  JSON NOT NULL,
    PRIMARY KEY (snapshot_id, root_id)
);
