-- A rollup of the devices for reports: how many devices share an
-- organisation, site, observed build, watched updates, day last seen and
-- day of their oldest observation. Reports over a national estate read
-- this (thousands of rows) instead of every device; triggers keep it
-- exact within every write's own transaction.
--
-- watched_kbs are the updates reports look for (those alerts name): the
-- device's observed updates that are watched, sorted, comma-separated; NULL
-- when its updates were never observed. observed_at is the oldest
-- observation behind its facts (Unix microseconds).

ALTER TABLE devices ADD COLUMN watched_kbs TEXT;
ALTER TABLE devices ADD COLUMN observed_at BIGINT;

CREATE TABLE watched_kbs (
    kb TEXT PRIMARY KEY
);

UPDATE devices SET
    watched_kbs = CASE WHEN json_extract(facts, '$.v.kbs') IS NULL THEN NULL ELSE '' END,
    observed_at = (SELECT min(t) FROM (
        SELECT json_extract(devices.facts, '$.at') AS t
        UNION ALL SELECT value FROM json_each(devices.facts, '$.t')) WHERE t IS NOT NULL AND t > 0);

-- Unknown values are kept as sentinels (build 0, updates '?', day -1) so
-- that every key is comparable and unique. WITHOUT ROWID: the key is the
-- table (one B-tree to write, not a table and an index).
CREATE TABLE device_rollup (
    org_id        INTEGER NOT NULL,
    site          TEXT    NOT NULL,
    os_build_key  BIGINT  NOT NULL,
    watched_kbs   TEXT    NOT NULL,
    seen_day      BIGINT  NOT NULL,
    observed_day  BIGINT  NOT NULL,
    devices       BIGINT  NOT NULL,
    PRIMARY KEY (org_id, site, os_build_key, watched_kbs, seen_day, observed_day)
) WITHOUT ROWID;

INSERT INTO device_rollup
    SELECT org_id, site, coalesce(os_build_key, 0), coalesce(watched_kbs, '?'),
        coalesce(last_seen / 86400000000, -1), coalesce(observed_at / 86400000000, -1), count(*)
    FROM devices GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER devices_rollup_insert AFTER INSERT ON devices BEGIN
    INSERT INTO device_rollup VALUES (NEW.org_id, NEW.site, coalesce(NEW.os_build_key, 0), coalesce(NEW.watched_kbs, '?'),
        coalesce(NEW.last_seen / 86400000000, -1), coalesce(NEW.observed_at / 86400000000, -1), 1)
    ON CONFLICT DO UPDATE SET devices = devices + 1;
END;

CREATE TRIGGER devices_rollup_delete AFTER DELETE ON devices BEGIN
    UPDATE device_rollup SET devices = devices - 1
    WHERE org_id = OLD.org_id AND site = OLD.site AND os_build_key = coalesce(OLD.os_build_key, 0)
        AND watched_kbs = coalesce(OLD.watched_kbs, '?') AND seen_day = coalesce(OLD.last_seen / 86400000000, -1)
        AND observed_day = coalesce(OLD.observed_at / 86400000000, -1);
    DELETE FROM device_rollup
    WHERE devices = 0 AND org_id = OLD.org_id AND site = OLD.site AND os_build_key = coalesce(OLD.os_build_key, 0)
        AND watched_kbs = coalesce(OLD.watched_kbs, '?') AND seen_day = coalesce(OLD.last_seen / 86400000000, -1)
        AND observed_day = coalesce(OLD.observed_at / 86400000000, -1);
END;

CREATE TRIGGER devices_rollup_update AFTER UPDATE OF org_id, site, os_build_key, watched_kbs, last_seen, observed_at ON devices
WHEN OLD.org_id IS NOT NEW.org_id OR OLD.site IS NOT NEW.site OR OLD.os_build_key IS NOT NEW.os_build_key
    OR OLD.watched_kbs IS NOT NEW.watched_kbs OR OLD.last_seen / 86400000000 IS NOT NEW.last_seen / 86400000000
    OR OLD.observed_at / 86400000000 IS NOT NEW.observed_at / 86400000000
BEGIN
    UPDATE device_rollup SET devices = devices - 1
    WHERE org_id = OLD.org_id AND site = OLD.site AND os_build_key = coalesce(OLD.os_build_key, 0)
        AND watched_kbs = coalesce(OLD.watched_kbs, '?') AND seen_day = coalesce(OLD.last_seen / 86400000000, -1)
        AND observed_day = coalesce(OLD.observed_at / 86400000000, -1);
    DELETE FROM device_rollup
    WHERE devices = 0 AND org_id = OLD.org_id AND site = OLD.site AND os_build_key = coalesce(OLD.os_build_key, 0)
        AND watched_kbs = coalesce(OLD.watched_kbs, '?') AND seen_day = coalesce(OLD.last_seen / 86400000000, -1)
        AND observed_day = coalesce(OLD.observed_at / 86400000000, -1);
    INSERT INTO device_rollup VALUES (NEW.org_id, NEW.site, coalesce(NEW.os_build_key, 0), coalesce(NEW.watched_kbs, '?'),
        coalesce(NEW.last_seen / 86400000000, -1), coalesce(NEW.observed_at / 86400000000, -1), 1)
    ON CONFLICT DO UPDATE SET devices = devices + 1;
END;
