-- Version 2 (issue 10 on PostgreSQL): the web console's filters and
-- charts, as SQLite's migration 12 (internal/store/schema.go). The fields
-- the console filters events by are read from the stored body into STORED
-- generated columns, indexed with the id so that a filtered list reads
-- newest first and stops at a page.
--
-- Bodies are BYTEA: a body is stored as it was posted, and it may be
-- neither UTF-8 nor JSON (or JSON that jsonb refuses, such as \u0000 in a
-- string). A plain body::jsonb cast in a generated column would then
-- refuse the Append, so the fields go through switchboard_body_field,
-- which answers NULL for such a body (as SQLite's json_valid guard does):
-- an Append is never refused because of these columns.
CREATE FUNCTION switchboard_body_field(body BYTEA, path TEXT[]) RETURNS TEXT
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	RETURN convert_from(body, 'UTF8')::jsonb #>> path;
EXCEPTION WHEN others THEN
	RETURN NULL;
END
$$;

-- One statement, so that the table is rewritten once.
ALTER TABLE events
	ADD COLUMN chat_id    TEXT GENERATED ALWAYS AS (switchboard_body_field(body, '{chat_id}')) STORED,
	ADD COLUMN chat_title TEXT GENERATED ALWAYS AS (switchboard_body_field(body, '{chat_title}')) STORED,
	ADD COLUMN direction  TEXT GENERATED ALWAYS AS (switchboard_body_field(body, '{direction}')) STORED,
	ADD COLUMN msg_type   TEXT GENERATED ALWAYS AS (switchboard_body_field(body, '{message,type}')) STORED,
	ADD COLUMN msg_text   TEXT GENERATED ALWAYS AS (switchboard_body_field(body, '{message,text}')) STORED;

CREATE INDEX events_chat ON events (chat_id, id);
CREATE INDEX events_direction ON events (direction, id);
CREATE INDEX events_type ON events (msg_type, id);
CREATE INDEX matches_rule ON matches (rule, event_id);
CREATE INDEX attempts_at ON attempts (at, id);
CREATE INDEX attempts_outcome ON attempts (outcome, at);
CREATE INDEX jobs_dead_id ON jobs (id) WHERE state = 'dead';
