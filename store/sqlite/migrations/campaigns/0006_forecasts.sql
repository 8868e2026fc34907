-- Each campaign's latest forecast (issue 20), made in the background by a
-- node (or by campaign forecast) and read by the reports and the
-- dashboard, which cannot wait the tens of seconds a national one takes.
-- The forecast is stored as the JSON package forecast writes.
CREATE TABLE campaign_forecasts (
    campaign  TEXT PRIMARY KEY REFERENCES campaigns(name) ON DELETE CASCADE,
    made_at   BIGINT NOT NULL,
    forecast  TEXT NOT NULL
);
