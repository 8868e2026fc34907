-- API tokens (package access): never a secret, only its SHA-256 (hash).
-- role and scope are as access writes them ('operator', 'estate',
-- 'region:north', 'org:RXX,RYY'). revoked_at is NULL while the token is
-- not revoked, and keeps its first revocation.
CREATE TABLE api_tokens (
    id          text PRIMARY KEY,
    subject     text NOT NULL,
    role        text NOT NULL,
    scope       text NOT NULL,
    hash        bytea NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- The audit trail (package audit), in the order of seq. Appends take an
-- advisory lock to the commit (see Audit.Append), so seq is the order
-- entries become visible in and a reader paging by seq misses none.
-- before and after are the records' JSON exactly as given, as text
-- (jsonb would reorder and respace them), NULL when none. Every reading
-- walks seq: the indexes serve a page of one organisation's or one
-- actor's entries, or of a time range.
CREATE TABLE audit_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    via         text NOT NULL DEFAULT '',
    token_id    text NOT NULL DEFAULT '',
    from_addr   text NOT NULL DEFAULT '',
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    org         text NOT NULL DEFAULT '',
    outcome     text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    before      text,
    after       text
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_org ON audit_log (org, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);

-- Append-only, at the database: nothing rewrites, removes or empties the
-- trail, not even a bug in Ringmaster or a hand at psql (short of
-- dropping the triggers, which only the table's owner may).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
