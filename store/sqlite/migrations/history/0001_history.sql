-- The daily history of report figures: per day (UTC midnight, Unix
-- microseconds) and organisation ('TOTAL' for the estate) the latest
-- snapshot taken that day, and per alert its affected and compliant
-- devices.

CREATE TABLE report_history (
    day        BIGINT  NOT NULL,
    org        TEXT    NOT NULL,
    devices    BIGINT  NOT NULL,
    on_target  BIGINT  NOT NULL,
    supported  BIGINT  NOT NULL,
    taken_at   BIGINT  NOT NULL,
    PRIMARY KEY (day, org)
);

CREATE TABLE report_history_alerts (
    day        BIGINT  NOT NULL,
    org        TEXT    NOT NULL,
    alert      TEXT    NOT NULL,
    affected   BIGINT  NOT NULL,
    compliant  BIGINT  NOT NULL,
    PRIMARY KEY (day, org, alert)
);
