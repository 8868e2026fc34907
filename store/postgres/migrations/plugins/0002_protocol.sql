-- What a plugin reported when it was installed: the plugin protocol
-- version it was built for (0: installed before this was recorded) and its
-- own version, so that a list shows which plugins a Ringmaster of another
-- protocol version would refuse.
ALTER TABLE plugins ADD COLUMN protocol integer NOT NULL DEFAULT 0;
ALTER TABLE plugins ADD COLUMN version text NOT NULL DEFAULT '';
