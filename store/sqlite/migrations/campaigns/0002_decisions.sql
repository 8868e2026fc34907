-- What a person decides on a running campaign (issue 14): failures they
-- accepted to let a halted wave go on, and every decision with who took it
-- and why. Devices are listed by state a page at a time, so the state
-- index carries the dispatch order the pages are keyed on.

-- accepted: a person accepted this device's failure (campaign continue);
-- it no longer counts towards a halt. A retry clears it.
ALTER TABLE campaign_devices ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0;

DROP INDEX campaign_devices_state;
CREATE INDEX campaign_devices_state ON campaign_devices (campaign, state, ord);
CREATE INDEX campaign_devices_ord ON campaign_devices (campaign, ord);

CREATE TABLE campaign_events (
    id              INTEGER PRIMARY KEY,
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,            -- continue, set, exclude, include, approve
    wave            TEXT NOT NULL DEFAULT '',
    org             TEXT NOT NULL DEFAULT '',
    detail          TEXT NOT NULL DEFAULT '', -- what it changed
    reason          TEXT NOT NULL DEFAULT ''  -- why, in the person's words
);
CREATE INDEX campaign_events_campaign ON campaign_events (campaign, id);
