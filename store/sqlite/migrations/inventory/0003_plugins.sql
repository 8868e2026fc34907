-- Registered executor plugins: a binary runs only if its SHA-256 is the one
-- recorded when it was installed.
CREATE TABLE plugins (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    path          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    installed_at  BIGINT  NOT NULL
);
