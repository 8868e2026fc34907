-- Named credentials: the secret is sealed by the credential package
-- (AES-256-GCM with the key in RINGMASTER_KEY_FILE) before it gets here.
-- BLOB is BYTEA on PostgreSQL.
CREATE TABLE credentials (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    username    TEXT    NOT NULL,
    secret      BLOB    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- The credential an organisation's devices use unless a device names its own.
ALTER TABLE organisations ADD COLUMN credential TEXT NOT NULL DEFAULT '';
