-- The scheduler nodes sharing this database (issue 16): each registers
-- what it serves and renews its registration while it runs; one that
-- stops renewing (killed) lapses at until.
CREATE TABLE nodes (
    name        text PRIMARY KEY,
    serve       text NOT NULL,   -- its placement as written ('' serves every organisation)
    queue       text NOT NULL,   -- the job queue of that placement
    host        text NOT NULL,
    pid         integer NOT NULL,
    workers     integer NOT NULL,
    version     text NOT NULL,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL,
    until       timestamptz NOT NULL
);
