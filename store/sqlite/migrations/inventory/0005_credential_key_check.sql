-- The check value of the key the stored credentials are sealed with (an
-- HMAC under the key of a fixed label: it identifies the key and reveals
-- nothing of it). While credentials are stored, a key whose check value
-- differs is refused. At most one row. A database from before this has
-- none until a key first opens one of its credentials.
CREATE TABLE credential_key (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    key_check    BLOB    NOT NULL,
    recorded_at  BIGINT  NOT NULL
);
