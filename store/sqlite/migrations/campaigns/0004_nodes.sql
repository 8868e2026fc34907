-- The scheduler nodes sharing this database (issue 16): each registers
-- what it serves and renews its registration while it runs; one that
-- stops renewing (killed) lapses at until. Times in microseconds.
CREATE TABLE nodes (
    name        TEXT PRIMARY KEY,
    serve       TEXT NOT NULL,   -- its placement as written ('' serves every organisation)
    queue       TEXT NOT NULL,   -- the job queue of that placement
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    workers     INTEGER NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    until       BIGINT NOT NULL
);
