-- Campaigns: the spec as written and the playbook as it was when the
-- campaign was created, so editing either file later changes nothing that
-- is already rolling out.
CREATE TABLE campaigns (
    name            TEXT PRIMARY KEY,
    spec_file       TEXT NOT NULL,
    spec            TEXT NOT NULL,
    playbook_file   TEXT NOT NULL,
    playbook        TEXT NOT NULL,
    status          TEXT NOT NULL,
    wake_at         BIGINT,            -- the controller looks again then
    dirty           INTEGER NOT NULL DEFAULT 1, -- something changed: decide again now
    seq             INTEGER NOT NULL DEFAULT 0, -- counts changes, so a decision on an older view leaves dirty set
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE campaign_waves (
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    name            TEXT NOT NULL,
    status          TEXT NOT NULL,
    started_at      BIGINT,
    completed_at    BIGINT,
    approved        INTEGER NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (campaign, idx)
);

-- One row per device of a campaign. generation counts dispatches: a job
-- carries the generation it was queued with, and a stale job (from before a
-- crash or a retry) finds a newer one and does nothing. lease_until is how
-- long the worker running the device may be silent before the device is
-- taken as orphaned and resumed elsewhere from its checkpoint.
CREATE TABLE campaign_devices (
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    hostname        TEXT NOT NULL,
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
    run_id          TEXT NOT NULL DEFAULT '', -- names the run on the device; kept across resumes, new after a retry
    PRIMARY KEY (campaign, hostname)
);
CREATE INDEX campaign_devices_state ON campaign_devices (campaign, state);

CREATE TABLE campaign_transitions (
    id              INTEGER PRIMARY KEY,
    campaign        TEXT NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    hostname        TEXT NOT NULL,
    from_state      TEXT NOT NULL,
    to_state        TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    cause           TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX campaign_transitions_device ON campaign_transitions (campaign, hostname, id);
