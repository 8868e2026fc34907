-- Campaigns: the spec as written and the playbook as it was when the
-- campaign was created, so editing either file later changes nothing that
-- is already rolling out. dirty says something changed since the
-- controller last decided; seq counts those changes, so that a decision
-- taken on an older view leaves dirty set. Text that is listed in order
-- is compared by byte (COLLATE "C"), as SQLite does.
CREATE TABLE campaigns (
    name            text COLLATE "C" PRIMARY KEY,
    spec_file       text NOT NULL,
    spec            text NOT NULL,
    playbook_file   text NOT NULL,
    playbook        text NOT NULL,
    status          text NOT NULL,
    wake_at         timestamptz,
    dirty           boolean NOT NULL DEFAULT true,
    seq             bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX campaigns_created ON campaigns (created_at, name);

CREATE TABLE campaign_waves (
    campaign        text COLLATE "C" NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    idx             integer NOT NULL,
    name            text NOT NULL,
    status          text NOT NULL,
    started_at      timestamptz,
    completed_at    timestamptz,
    approved        boolean NOT NULL DEFAULT false,
    reason          text NOT NULL DEFAULT '',
    PRIMARY KEY (campaign, idx),
    UNIQUE (campaign, name)
);

-- One row per device of a campaign, written by Create alone (with COPY)
-- and then only updated. generation counts dispatches: a job carries the
-- generation it was queued with, and a stale job finds a newer one and
-- does nothing. lease_until is how long the worker running the device
-- may be silent before the device is taken as orphaned. accepted: a
-- person accepted its failure (campaign continue).
--
-- Indexes: the primary key finds a device by hostname; (campaign, ord)
-- lists a campaign in dispatch order; campaign_devices_group holds each
-- state's devices by wave and organisation in dispatch order (the
-- controller's pending heads and pages, listings by state); and the
-- running devices by lease find the orphans.
CREATE TABLE campaign_devices (
    campaign        text COLLATE "C" NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    hostname        text COLLATE "C" NOT NULL,
    org             text COLLATE "C" NOT NULL,
    site            text COLLATE "C" NOT NULL,
    wave            integer NOT NULL,
    ord             integer NOT NULL,
    state           text COLLATE "C" NOT NULL,
    reason          text COLLATE "C" NOT NULL DEFAULT '',
    message         text NOT NULL DEFAULT '',
    step            text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    generation      integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    changed_at      timestamptz NOT NULL,
    checkpoint      bytea,
    run_id          text NOT NULL DEFAULT '', -- names the run on the device; kept across resumes, new after a retry
    accepted        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (campaign, hostname)
);
CREATE UNIQUE INDEX campaign_devices_ord ON campaign_devices (campaign, ord);
CREATE INDEX campaign_devices_group ON campaign_devices (campaign, state, wave, org, ord);
CREATE INDEX campaign_devices_running ON campaign_devices (campaign, lease_until) WHERE state = 'running';

-- Every change of a device's state. Workers on every node append to it
-- (and to campaign_count_deltas) all the time: neither has a foreign key,
-- whose check would lock the campaign's row (FOR KEY SHARE) in every
-- worker's transaction. Their rows are written only beside a device of
-- the campaign, found and locked first; deleting a campaign (nothing
-- does yet) must delete them too.
CREATE TABLE campaign_transitions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign        text COLLATE "C" NOT NULL,
    hostname        text COLLATE "C" NOT NULL,
    from_state      text NOT NULL,
    to_state        text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    cause           text NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX campaign_transitions_device ON campaign_transitions (campaign, hostname, id);
CREATE INDEX campaign_transitions_campaign ON campaign_transitions (campaign, id);

-- What people decided on a campaign: who, when, what, where and why.
CREATE TABLE campaign_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign        text COLLATE "C" NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,            -- continue, set, exclude, include, approve
    wave            text NOT NULL DEFAULT '',
    org             text NOT NULL DEFAULT '',
    detail          text NOT NULL DEFAULT '', -- what it changed
    reason          text NOT NULL DEFAULT ''  -- why, in the person's words
);
CREATE INDEX campaign_events_campaign ON campaign_events (campaign, id);

-- A campaign's devices counted per wave, organisation, site, state,
-- reason and accepted failure, exact in every transaction: the count of
-- a key is its row in campaign_counts plus its rows in
-- campaign_count_deltas. Create writes a new campaign's counts; every
-- change of a device's key afterwards adds a -1 and a +1 delta (the
-- trigger below), in the transaction that makes it. Deltas are only
-- ever inserted, so workers on several nodes moving devices at once
-- never wait for one another on a count (no hot row, no deadlock between
-- two transactions updating counts in different orders). The control
-- pass folds a campaign's deltas into campaign_counts (one statement
-- deleting them and adding their sums, so two passes at once fold
-- disjoint deltas), keeping what a read sums small.
CREATE TABLE campaign_counts (
    campaign        text COLLATE "C" NOT NULL REFERENCES campaigns(name) ON DELETE CASCADE,
    wave            integer NOT NULL,
    org             text COLLATE "C" NOT NULL,
    site            text COLLATE "C" NOT NULL,
    state           text COLLATE "C" NOT NULL,
    reason          text COLLATE "C" NOT NULL,
    accepted        boolean NOT NULL,
    devices         integer NOT NULL,
    PRIMARY KEY (campaign, wave, org, site, state, reason, accepted)
);

CREATE TABLE campaign_count_deltas (
    campaign        text COLLATE "C" NOT NULL, -- no foreign key: see campaign_transitions
    wave            integer NOT NULL,
    org             text COLLATE "C" NOT NULL,
    site            text COLLATE "C" NOT NULL,
    state           text COLLATE "C" NOT NULL,
    reason          text COLLATE "C" NOT NULL,
    accepted        boolean NOT NULL,
    delta           integer NOT NULL
);
CREATE INDEX campaign_count_deltas_campaign ON campaign_count_deltas (campaign);

CREATE FUNCTION campaign_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_count_deltas (campaign, wave, org, site, state, reason, accepted, delta) VALUES
        (OLD.campaign, OLD.wave, OLD.org, OLD.site, OLD.state, OLD.reason, OLD.accepted, -1),
        (NEW.campaign, NEW.wave, NEW.org, NEW.site, NEW.state, NEW.reason, NEW.accepted, 1);
    RETURN NULL;
END;
$$;

CREATE TRIGGER campaign_counts_update AFTER UPDATE OF campaign, wave, org, site, state, reason, accepted ON campaign_devices
FOR EACH ROW WHEN (OLD.campaign IS DISTINCT FROM NEW.campaign OR OLD.wave IS DISTINCT FROM NEW.wave OR OLD.org IS DISTINCT FROM NEW.org
    OR OLD.site IS DISTINCT FROM NEW.site OR OLD.state IS DISTINCT FROM NEW.state OR OLD.reason IS DISTINCT FROM NEW.reason
    OR OLD.accepted IS DISTINCT FROM NEW.accepted)
EXECUTE FUNCTION campaign_count_move();
