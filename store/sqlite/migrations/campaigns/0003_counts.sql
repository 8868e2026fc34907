-- National scale (issue 15).
--
-- A campaign's devices are stored in dispatch order: each campaign gets a
-- number, and a device's row id is that number << 32 | its dispatch
-- order, so the table itself is the index on (campaign, order) and a new
-- campaign's rows are written at its end. Besides it, one index finds a
-- device by hostname, keyed by its rank first (the hash that orders a
-- wave, so a new campaign sweeps through it once per wave rather than
-- writing at random places), and one groups a campaign's devices by state, wave
-- and organisation in dispatch order: the controller reads the pending
-- devices of an organisation a page at a time from it, and listings by
-- state merge its groups. Fewer, appended indexes make creating a
-- national campaign cheaper, as the counts below make reading it cheap.
ALTER TABLE campaigns ADD COLUMN num INTEGER;
UPDATE campaigns SET num = (SELECT count(*) FROM campaigns c2
    WHERE c2.created_at < campaigns.created_at OR (c2.created_at = campaigns.created_at AND c2.name <= campaigns.name));
CREATE UNIQUE INDEX campaigns_num ON campaigns (num);

CREATE TABLE campaign_devices_new (
    id              INTEGER PRIMARY KEY, -- campaigns.num << 32 | ord
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    hostname        TEXT NOT NULL,
    rank            INTEGER NOT NULL, -- orchestrator.Rank of campaign and hostname: the hostname index's sweep order
    org             TEXT NOT NULL,
    site            TEXT NOT NULL,
    wave            INTEGER NOT NULL,
    ord             INTEGER NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    step            TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    generation      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    changed_at      BIGINT NOT NULL,
    checkpoint      TEXT,
    run_id          TEXT NOT NULL DEFAULT '',
    accepted        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO campaign_devices_new (id, campaign, hostname, rank, org, site, wave, ord, state, reason, message, step, attempts, generation,
        next_attempt_at, lease_until, changed_at, checkpoint, run_id, accepted)
    SELECT (SELECT num FROM campaigns c WHERE c.name = d.campaign) << 32 | d.ord, campaign, hostname, campaign_rank(campaign, hostname), org, site, wave, ord, state,
        reason, message, step, attempts, generation, next_attempt_at, lease_until, changed_at, checkpoint, run_id, accepted
    FROM campaign_devices d;
DROP TABLE campaign_devices;
ALTER TABLE campaign_devices_new RENAME TO campaign_devices;
CREATE UNIQUE INDEX campaign_devices_hostname ON campaign_devices (campaign, rank, hostname);
CREATE INDEX campaign_devices_group ON campaign_devices (campaign, state, wave, org, ord);

-- A campaign's devices counted per wave, organisation, site, state,
-- reason and accepted failure, kept exact by triggers in the transaction
-- of every write to campaign_devices (as the inventory's device_rollup
-- is), so that the controller, campaign show, list and the reports read a
-- few hundred rows where they read every device.
CREATE TABLE campaign_counts (
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    wave            INTEGER NOT NULL,
    org             TEXT NOT NULL,
    site            TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    accepted        INTEGER NOT NULL,
    devices         INTEGER NOT NULL,
    PRIMARY KEY (campaign, wave, org, site, state, reason, accepted)
);

INSERT INTO campaign_counts
    SELECT campaign, wave, org, site, state, reason, accepted, count(*)
    FROM campaign_devices GROUP BY 1, 2, 3, 4, 5, 6, 7;

CREATE TRIGGER campaign_counts_insert AFTER INSERT ON campaign_devices BEGIN
    INSERT INTO campaign_counts VALUES (NEW.campaign, NEW.wave, NEW.org, NEW.site, NEW.state, NEW.reason, NEW.accepted, 1)
    ON CONFLICT DO UPDATE SET devices = devices + 1;
END;

CREATE TRIGGER campaign_counts_delete AFTER DELETE ON campaign_devices BEGIN
    UPDATE campaign_counts SET devices = devices - 1
    WHERE campaign = OLD.campaign AND wave = OLD.wave AND org = OLD.org AND site = OLD.site
        AND state = OLD.state AND reason = OLD.reason AND accepted = OLD.accepted;
    DELETE FROM campaign_counts
    WHERE devices = 0 AND campaign = OLD.campaign AND wave = OLD.wave AND org = OLD.org AND site = OLD.site
        AND state = OLD.state AND reason = OLD.reason AND accepted = OLD.accepted;
END;

CREATE TRIGGER campaign_counts_update AFTER UPDATE OF campaign, wave, org, site, state, reason, accepted ON campaign_devices
WHEN OLD.campaign IS NOT NEW.campaign OR OLD.wave IS NOT NEW.wave OR OLD.org IS NOT NEW.org OR OLD.site IS NOT NEW.site
    OR OLD.state IS NOT NEW.state OR OLD.reason IS NOT NEW.reason OR OLD.accepted IS NOT NEW.accepted
BEGIN
    UPDATE campaign_counts SET devices = devices - 1
    WHERE campaign = OLD.campaign AND wave = OLD.wave AND org = OLD.org AND site = OLD.site
        AND state = OLD.state AND reason = OLD.reason AND accepted = OLD.accepted;
    DELETE FROM campaign_counts
    WHERE devices = 0 AND campaign = OLD.campaign AND wave = OLD.wave AND org = OLD.org AND site = OLD.site
        AND state = OLD.state AND reason = OLD.reason AND accepted = OLD.accepted;
    INSERT INTO campaign_counts VALUES (NEW.campaign, NEW.wave, NEW.org, NEW.site, NEW.state, NEW.reason, NEW.accepted, 1)
    ON CONFLICT DO UPDATE SET devices = devices + 1;
END;
