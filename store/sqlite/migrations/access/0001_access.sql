-- API tokens (package access): never a secret, only its SHA-256 (hash).
-- role and scope are as access writes them ('operator', 'estate',
-- 'region:north', 'org:RXX,RYY'). Times in microseconds; revoked_at is
-- NULL while the token is not revoked, and keeps its first revocation.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    hash        BLOB NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- The audit trail (package audit), in the order of seq, which
-- AUTOINCREMENT never gives twice, even after the last row's removal.
-- before and after are the records' JSON exactly as given (NULL when
-- none). Times in microseconds. Every reading walks seq: the indexes
-- serve a page of one organisation's or one actor's entries, or of a
-- time range.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    via         TEXT NOT NULL DEFAULT '',
    token_id    TEXT NOT NULL DEFAULT '',
    from_addr   TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    org         TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_org ON audit_log (org, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);

-- Append-only, at the database: nothing rewrites or removes an entry, not
-- even a bug in Ringmaster or a hand at the sqlite3 prompt (short of
-- dropping the triggers). INSERT OR REPLACE deletes the row it replaces
-- without firing DELETE triggers (unless recursive_triggers is on), so
-- an insert naming a seq that exists is refused too.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
