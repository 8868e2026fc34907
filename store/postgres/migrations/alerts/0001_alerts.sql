-- High Severity Alerts as added, the YAML kept whole: the alert's own text
-- is the record. issued and deadline are the alert's dates as written
-- (YYYY-MM-DD).
CREATE TABLE alerts (
    id          text PRIMARY KEY,
    title       text NOT NULL,
    issued      text NOT NULL,
    deadline    text NOT NULL,
    file        text NOT NULL,
    source      text NOT NULL,
    added_at    timestamptz NOT NULL
);
