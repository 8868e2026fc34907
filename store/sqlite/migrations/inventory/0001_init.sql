-- Organisations and devices.
-- Standard SQL only, so the same schema can be written for PostgreSQL:
-- times are BIGINT microseconds since the Unix epoch (UTC); observed facts
-- are a JSON document beside the declared columns, with the build also kept
-- as an ordered integer for queries.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    time_zone   TEXT    NOT NULL,
    tags        TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL
);

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    hostname      TEXT    NOT NULL,
    org_id        INTEGER NOT NULL REFERENCES organisations (id),
    site          TEXT    NOT NULL DEFAULT '',
    address       TEXT    NOT NULL DEFAULT '',
    credential    TEXT    NOT NULL DEFAULT '',
    labels        TEXT    NOT NULL DEFAULT '',
    os_build_key  BIGINT,
    facts         TEXT    NOT NULL DEFAULT '{}',
    last_seen     BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE UNIQUE INDEX devices_hostname ON devices (hostname);
CREATE INDEX devices_org_hostname ON devices (org_id, hostname);
