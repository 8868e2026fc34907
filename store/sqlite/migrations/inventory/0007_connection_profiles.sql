-- Connection profiles: how an organisation's devices are reached (executor,
-- transport, CA bundle, executor options), set once and used by every
-- command. org_id NULL is the estate default, used by organisations without
-- a profile of their own; its credential is the estate's default
-- credential (an organisation's is organisations.credential). The CA
-- bundle's content is stored, not its path, which may change or vanish.
-- options is a JSON object of strings. BLOB is BYTEA on PostgreSQL.
CREATE TABLE connection_profiles (
    id                       INTEGER PRIMARY KEY,
    org_id                   INTEGER UNIQUE REFERENCES organisations (id) ON DELETE CASCADE,
    executor                 TEXT    NOT NULL DEFAULT '',
    https                    BOOLEAN NOT NULL DEFAULT FALSE,
    port                     INTEGER NOT NULL DEFAULT 0,
    auth                     TEXT    NOT NULL DEFAULT '',
    allow_basic_without_tls  BOOLEAN NOT NULL DEFAULT FALSE,
    ca_cert                  BLOB,
    ca_name                  TEXT    NOT NULL DEFAULT '',
    options                  TEXT    NOT NULL DEFAULT '{}',
    credential               TEXT    NOT NULL DEFAULT '',
    updated_at               BIGINT  NOT NULL
);

-- At most one estate default (UNIQUE lets many NULLs through).
CREATE UNIQUE INDEX connection_profiles_default ON connection_profiles ((org_id IS NULL)) WHERE org_id IS NULL;
