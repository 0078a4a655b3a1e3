-- Key tags (aws:ResourceTag/<k> of a KMS key): ListResourceTags as a snapshot saw them.
-- tags is a JSON object {TagKey: TagValue} ({} = the key has no tags). No row for a key: its tags were not
-- collected (never "no tags"); diag.collect.key_tags then moves them to an event time with the trail's
-- TagResource / UntagResource / CreateKey records.
CREATE TABLE IF NOT EXISTS key_tags (
    snapshot_id  BIGINT NOT NULL,
    account      VARCHAR NOT NULL,
    region       VARCHAR NOT NULL,
    key_arn      VARCHAR NOT NULL,
    tags         JSON NOT NULL,
    PRIMARY KEY (snapshot_id, key_arn)
);
CREATE INDEX IF NOT EXISTS key_tags_key_arn ON key_tags (key_arn);
