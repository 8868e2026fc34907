-- Who is told of campaign and alert events: an organisation's (org) or
-- national ('') subscriptions, by webhook or email. No secret is stored:
-- secret_file and password_file are read when sending.
CREATE TABLE notify_subscriptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org             text NOT NULL DEFAULT '',
    channel         text NOT NULL,
    url             text NOT NULL DEFAULT '',
    format          text NOT NULL DEFAULT '',
    secret_file     text NOT NULL DEFAULT '',
    recipient       text NOT NULL DEFAULT '',
    smtp            text NOT NULL DEFAULT '',
    sender          text NOT NULL DEFAULT '',
    username        text NOT NULL DEFAULT '',
    password_file   text NOT NULL DEFAULT '',
    allow_plain     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);

-- The outbox: one row per event (by key) and subscription, never two, so
-- an event seen again by another control pass, another node or after a
-- restart is not sent again. A row is due at next_at; lease_until keeps
-- other nodes off it while one sends; delivered_at is set once sent, and
-- next_at cleared when given up.
CREATE TABLE notify_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription    bigint NOT NULL REFERENCES notify_subscriptions(id) ON DELETE CASCADE,
    event_key       text NOT NULL,
    event           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_at         timestamptz,
    lease_until     timestamptz,
    delivered_at    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    UNIQUE (subscription, event_key)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_at) WHERE next_at IS NOT NULL;
