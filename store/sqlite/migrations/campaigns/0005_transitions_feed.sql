-- A campaign's transitions in id order, for a reader following them a
-- page at a time (TransitionsAfter): a range of this index from the last
-- id it saw, whatever the campaign holds. (PostgreSQL's first migration
-- has it.)
CREATE INDEX campaign_transitions_campaign ON campaign_transitions (campaign, id);
