-- What each diagnosis rests on (the explain JSON's "decision" and "based_on"): the decision the evidence
-- proves ("Unknown" unless every deciding layer was seen) and {record, layers_seen, layers_not_seen,
-- key_metadata_seen, policies_as_of, aws_message_claims}. NULL for rows diagnosed before this column existed.
ALTER TABLE diagnoses ADD COLUMN IF NOT EXISTS decision VARCHAR;
ALTER TABLE diagnoses ADD COLUMN IF NOT EXISTS based_on JSON;
