-- The daily history of report figures: per day (UTC midnight) and
-- organisation ('TOTAL' for the estate) the latest snapshot taken that day,
-- and per alert its affected and compliant devices.
CREATE TABLE report_history (
    day        timestamptz NOT NULL,
    org        text        NOT NULL,
    devices    bigint      NOT NULL,
    on_target  bigint      NOT NULL,
    supported  bigint      NOT NULL,
    taken_at   timestamptz NOT NULL,
    PRIMARY KEY (day, org)
);

CREATE TABLE report_history_alerts (
    day        timestamptz NOT NULL,
    org        text        NOT NULL,
    alert      text        NOT NULL,
    affected   bigint      NOT NULL,
    compliant  bigint      NOT NULL,
    PRIMARY KEY (day, org, alert)
);
CREATE INDEX report_history_alerts_alert ON report_history_alerts (alert);
