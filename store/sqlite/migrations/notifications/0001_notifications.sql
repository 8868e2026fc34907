-- Who is told of campaign and alert events: an organisation's (org) or
-- national ('') subscriptions, by webhook or email. No secret is stored:
-- secret_file and password_file are read when sending.
CREATE TABLE notify_subscriptions (
    id              INTEGER PRIMARY KEY,
    org             TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL,
    url             TEXT NOT NULL DEFAULT '',
    format          TEXT NOT NULL DEFAULT '',
    secret_file     TEXT NOT NULL DEFAULT '',
    recipient       TEXT NOT NULL DEFAULT '',
    smtp            TEXT NOT NULL DEFAULT '',
    sender          TEXT NOT NULL DEFAULT '',
    username        TEXT NOT NULL DEFAULT '',
    password_file   TEXT NOT NULL DEFAULT '',
    allow_plain     INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);

-- The outbox: one row per event (by key) and subscription, never two, so
-- an event seen again by another control pass or after a restart is not
-- sent again. A row is due at next_at; lease_until keeps other processes
-- off it while one sends; delivered_at is set once sent, and next_at
-- cleared when given up.
CREATE TABLE notify_deliveries (
    id              INTEGER PRIMARY KEY,
    subscription    INTEGER NOT NULL REFERENCES notify_subscriptions(id) ON DELETE CASCADE,
    event_key       TEXT NOT NULL,
    event           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         BIGINT,
    lease_until     BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    UNIQUE (subscription, event_key)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_at) WHERE next_at IS NOT NULL;
