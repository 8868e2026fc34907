-- The history of label changes made without an import (inventory label):
-- one row per label a change added, changed or removed on a device, with
-- when (Unix microseconds) and who. old_value is NULL when the label was
-- not set before, new_value NULL when it was removed. A device's history
-- goes with it. Labels are not in the rollup, so these changes leave it
-- as it is.
CREATE TABLE device_label_history (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    label_key   TEXT    NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    changed_at  BIGINT  NOT NULL,
    actor       TEXT    NOT NULL
);

CREATE INDEX device_label_history_device ON device_label_history (device_id, changed_at);
