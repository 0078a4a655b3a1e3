-- ReEncrypt names two keys: the one that decrypts (source) and the one that encrypts (destination). Each
-- gets its own column: the key ARN when the record shows it (responseElements, resources, an ARN given),
-- else the key ID or alias exactly as the caller passed it. NULL for every other call.
ALTER TABLE events ADD COLUMN IF NOT EXISTS reencrypt_source_key VARCHAR;
ALTER TABLE events ADD COLUMN IF NOT EXISTS reencrypt_destination_key VARCHAR;
