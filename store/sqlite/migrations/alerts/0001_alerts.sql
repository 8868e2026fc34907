-- High Severity Alerts as added, YAML kept whole: the alert's own text is
-- the record.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    issued      TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    file        TEXT NOT NULL,
    source      TEXT NOT NULL,
    added_at    BIGINT NOT NULL
);
