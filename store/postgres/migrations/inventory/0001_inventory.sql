-- Organisations, devices with their observed facts, labels and their
-- history, connection profiles, credentials (sealed by the caller: the
-- store never sees a secret in clear) and the device rollup reports read.
-- Times are timestamptz. Text that is ordered for output is ordered with
-- COLLATE "C" by the queries, as SQLite's byte order.

CREATE TABLE credentials (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    username    text        NOT NULL,
    secret      bytea       NOT NULL,
    created_at  timestamptz NOT NULL
);

-- The check value of the key the stored credentials are sealed with (an
-- HMAC under the key of a fixed label): at most one row.
CREATE TABLE credential_key (
    id           integer     PRIMARY KEY CHECK (id = 1),
    key_check    bytea       NOT NULL,
    recorded_at  timestamptz NOT NULL
);

-- credential is the one the organisation's devices use unless a device
-- names its own ('' none).
CREATE TABLE organisations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    time_zone   text        NOT NULL,
    tags        text        NOT NULL DEFAULT '',
    credential  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);

-- facts is one JSON document per device (values as text, observation
-- times in Unix microseconds; internal/factsdoc); os_build_key is the observed
-- build as an ordered integer, for selectors. watched_kbs are the device's
-- observed updates that are watched (sorted, comma-separated; NULL when
-- its updates were never observed) and observed_at the oldest observation
-- behind its facts: with org_id, site, os_build_key and last_seen they are
-- the device's key in the rollup.
CREATE TABLE devices (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hostname      text        NOT NULL UNIQUE,
    org_id        bigint      NOT NULL REFERENCES organisations (id),
    site          text        NOT NULL DEFAULT '',
    address       text        NOT NULL DEFAULT '',
    credential    text        NOT NULL DEFAULT '',
    labels        text        NOT NULL DEFAULT '',
    os_build_key  bigint,
    facts         text        NOT NULL DEFAULT '{}',
    last_seen     timestamptz,
    watched_kbs   text,
    observed_at   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX devices_org_hostname ON devices (org_id, hostname COLLATE "C");
CREATE INDEX devices_build ON devices (os_build_key);
CREATE INDEX devices_credential ON devices (credential) WHERE credential <> '';

-- The history of label changes made without an import: old_value NULL
-- when the label was not set before, new_value NULL when it was removed.
CREATE TABLE device_label_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   bigint      NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    label_key   text        NOT NULL,
    old_value   text,
    new_value   text,
    changed_at  timestamptz NOT NULL,
    actor       text        NOT NULL
);
CREATE INDEX device_label_history_device ON device_label_history (device_id, changed_at);

-- Connection profiles: org_id NULL is the estate default, whose credential
-- is kept here (an organisation's is organisations.credential). options
-- is a JSON object of strings.
CREATE TABLE connection_profiles (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id                   bigint UNIQUE REFERENCES organisations (id) ON DELETE CASCADE,
    executor                 text    NOT NULL DEFAULT '',
    https                    boolean NOT NULL DEFAULT false,
    port                     integer NOT NULL DEFAULT 0,
    auth                     text    NOT NULL DEFAULT '',
    allow_basic_without_tls  boolean NOT NULL DEFAULT false,
    ca_cert                  bytea,
    ca_name                  text    NOT NULL DEFAULT '',
    options                  text    NOT NULL DEFAULT '{}',
    credential               text    NOT NULL DEFAULT '',
    updated_at               timestamptz NOT NULL
);
-- At most one estate default.
CREATE UNIQUE INDEX connection_profiles_default ON connection_profiles ((org_id IS NULL)) WHERE org_id IS NULL;

-- The updates reports look for (those alerts name), upper case.
CREATE TABLE watched_kbs (
    kb text PRIMARY KEY
);

-- The device rollup: how many devices share an organisation, site, build
-- (0 unknown), watched updates ('?' never observed), day last seen and day
-- of oldest observation (days since the Unix epoch, -1 never). Reports over
-- a national estate read this instead of every device.
--
-- It is kept exact by statement triggers on devices, in the transaction of
-- the write, as signed counts: a key may have several rows, and its count
-- is their sum. A writer adds the change its statement made and, in the
-- same statement, folds the rows of the keys it touched that no other
-- transaction holds (FOR UPDATE SKIP LOCKED) into one. So writers never
-- wait for one another here (two imports, observations from several nodes
-- on the same cohorts), and the rows stay about one per key.
CREATE TABLE device_rollup (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        bigint NOT NULL,
    site          text   NOT NULL,
    os_build_key  bigint NOT NULL,
    watched_kbs   text   NOT NULL,
    seen_day      bigint NOT NULL,
    observed_day  bigint NOT NULL,
    devices       bigint NOT NULL
);
CREATE INDEX device_rollup_key ON device_rollup (org_id, site, os_build_key, watched_kbs, seen_day, observed_day);

-- The day (since the Unix epoch, UTC) of a time, -1 for none.
CREATE FUNCTION rollup_day(t timestamptz) RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(floor(extract(epoch FROM t) / 86400)::bigint, -1)
$$;

-- The rollup's triggers: each adds the change its statement made to the
-- devices (their transition tables) and folds the rows of the keys it
-- touched that no other transaction holds into one row per key.
CREATE FUNCTION devices_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) AS devices FROM (SELECT org_id, site, coalesce(os_build_key, 0) AS os_build_key, coalesce(watched_kbs, '?') AS watched_kbs, rollup_day(last_seen) AS seen_day, rollup_day(observed_at) AS observed_day, 1 AS devices FROM new_rows) c
        GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0
    ), gone AS (
        DELETE FROM device_rollup r WHERE r.id IN (
            SELECT x.id FROM device_rollup x JOIN delta d
                ON (x.org_id, x.site, x.os_build_key, x.watched_kbs, x.seen_day, x.observed_day) =
                   (d.org_id, d.site, d.os_build_key, d.watched_kbs, d.seen_day, d.observed_day)
            FOR UPDATE OF x SKIP LOCKED)
        RETURNING r.org_id, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day, r.devices
    )
    INSERT INTO device_rollup (org_id, site, os_build_key, watched_kbs, seen_day, observed_day, devices)
    SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) FROM (SELECT * FROM delta UNION ALL SELECT * FROM gone) c
    GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION devices_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) AS devices FROM (SELECT org_id, site, coalesce(os_build_key, 0) AS os_build_key, coalesce(watched_kbs, '?') AS watched_kbs, rollup_day(last_seen) AS seen_day, rollup_day(observed_at) AS observed_day, -1 AS devices FROM old_rows) c
        GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0
    ), gone AS (
        DELETE FROM device_rollup r WHERE r.id IN (
            SELECT x.id FROM device_rollup x JOIN delta d
                ON (x.org_id, x.site, x.os_build_key, x.watched_kbs, x.seen_day, x.observed_day) =
                   (d.org_id, d.site, d.os_build_key, d.watched_kbs, d.seen_day, d.observed_day)
            FOR UPDATE OF x SKIP LOCKED)
        RETURNING r.org_id, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day, r.devices
    )
    INSERT INTO device_rollup (org_id, site, os_build_key, watched_kbs, seen_day, observed_day, devices)
    SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) FROM (SELECT * FROM delta UNION ALL SELECT * FROM gone) c
    GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION devices_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) AS devices FROM (SELECT org_id, site, coalesce(os_build_key, 0) AS os_build_key, coalesce(watched_kbs, '?') AS watched_kbs, rollup_day(last_seen) AS seen_day, rollup_day(observed_at) AS observed_day, 1 AS devices FROM new_rows UNION ALL SELECT org_id, site, coalesce(os_build_key, 0) AS os_build_key, coalesce(watched_kbs, '?') AS watched_kbs, rollup_day(last_seen) AS seen_day, rollup_day(observed_at) AS observed_day, -1 FROM old_rows) c
        GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0
    ), gone AS (
        DELETE FROM device_rollup r WHERE r.id IN (
            SELECT x.id FROM device_rollup x JOIN delta d
                ON (x.org_id, x.site, x.os_build_key, x.watched_kbs, x.seen_day, x.observed_day) =
                   (d.org_id, d.site, d.os_build_key, d.watched_kbs, d.seen_day, d.observed_day)
            FOR UPDATE OF x SKIP LOCKED)
        RETURNING r.org_id, r.site, r.os_build_key, r.watched_kbs, r.seen_day, r.observed_day, r.devices
    )
    INSERT INTO device_rollup (org_id, site, os_build_key, watched_kbs, seen_day, observed_day, devices)
    SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices) FROM (SELECT * FROM delta UNION ALL SELECT * FROM gone) c
    GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_rollup_insert AFTER INSERT ON devices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_rollup_insert();
CREATE TRIGGER devices_rollup_delete AFTER DELETE ON devices REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_rollup_delete();
CREATE TRIGGER devices_rollup_update AFTER UPDATE ON devices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_rollup_update();
