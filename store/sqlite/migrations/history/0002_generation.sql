-- The history's generation: a number that changes with every write to
-- report_history or report_history_alerts (whoever makes it: a snapshot,
-- an alert's removal, a copy), so that a reader holding the history in
-- memory knows, in one row's read, whether it is still the stored one.
CREATE TABLE report_history_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT  NOT NULL
);
INSERT INTO report_history_generation VALUES (1, 0);

CREATE TRIGGER report_history_insert AFTER INSERT ON report_history BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
CREATE TRIGGER report_history_update AFTER UPDATE ON report_history BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
CREATE TRIGGER report_history_delete AFTER DELETE ON report_history BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
CREATE TRIGGER report_history_alerts_insert AFTER INSERT ON report_history_alerts BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
CREATE TRIGGER report_history_alerts_update AFTER UPDATE ON report_history_alerts BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
CREATE TRIGGER report_history_alerts_delete AFTER DELETE ON report_history_alerts BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
END;
