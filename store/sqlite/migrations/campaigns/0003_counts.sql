-- National scale (issue 15): a campaign's devices counted per wave,
-- organisation, site, state, reason and accepted failure, kept exact by
-- triggers in the transaction of every write to campaign_devices (as the
-- inventory's device_rollup is), so that the controller, campaign show,
-- list and the reports read a few hundred rows where they read every
-- device. The controller fetches the devices it may dispatch a group
-- (wave, organisation, site) at a time in dispatch order, from
-- campaign_devices_group.

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

CREATE INDEX campaign_devices_group ON campaign_devices (campaign, state, wave, org, ord);
