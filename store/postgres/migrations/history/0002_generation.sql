-- The history's generation: a number that changes with every statement
-- writing report_history or report_history_alerts (whoever makes it: a
-- snapshot, an alert's removal, a copy), so that a reader holding the
-- history in memory knows, in one row's read, whether it is still the
-- stored one.
CREATE TABLE report_history_generation (
    id         integer PRIMARY KEY CHECK (id = 1),
    generation bigint  NOT NULL
);
INSERT INTO report_history_generation VALUES (1, 0);

CREATE FUNCTION report_history_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE report_history_generation SET generation = generation + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER report_history_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON report_history
    FOR EACH STATEMENT EXECUTE FUNCTION report_history_bump();
CREATE TRIGGER report_history_alerts_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON report_history_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION report_history_bump();
