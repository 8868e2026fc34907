-- Registered executor plugins: a binary runs only if its SHA-256 is the one
-- recorded when it was installed.
CREATE TABLE plugins (
    name         text PRIMARY KEY,
    path         text NOT NULL,
    sha256       text NOT NULL,
    installed_at timestamptz NOT NULL
);
