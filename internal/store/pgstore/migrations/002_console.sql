-- Version 2 (issue 10 on PostgreSQL): the web console's filters and
-- charts, as SQLite's migration 12 (internal/store/schema.go). The fields
-- the console filters events by are read from the stored body into
-- columns, indexed with the id so that a filtered list reads newest first
-- and stops at a page.
--
-- Bodies are BYTEA: a body is stored as it was posted, and it may be
-- neither UTF-8 nor JSON (or JSON that jsonb refuses, such as \u0000 in a
-- string). A generated column over body::jsonb would then refuse the
-- Append, so a trigger fills the columns, leaving them NULL for such a
-- body (as SQLite's json_valid guard does): an Append is never refused
-- because of them. The trigger parses each body once (five generated
-- columns over a safe function parsed it five times: about 9,500 Appends
-- a second against 12,800 with the trigger, 18,600 without the columns,
-- BenchmarkAppendCooby on 2 cores). It runs for every insert, COPY
-- (switchboard migrate) included, and fills the stored events below.
ALTER TABLE events
	ADD COLUMN chat_id    TEXT,
	ADD COLUMN chat_title TEXT,
	ADD COLUMN direction  TEXT,
	ADD COLUMN msg_type   TEXT,
	ADD COLUMN msg_text   TEXT;

CREATE FUNCTION switchboard_event_fields() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	doc jsonb;
BEGIN
	BEGIN
		doc := convert_from(NEW.body, 'UTF8')::jsonb;
	EXCEPTION WHEN others THEN
		doc := NULL;
	END;
	NEW.chat_id    := doc ->> 'chat_id';
	NEW.chat_title := doc ->> 'chat_title';
	NEW.direction  := doc ->> 'direction';
	NEW.msg_type   := doc #>> '{message,type}';
	NEW.msg_text   := doc #>> '{message,text}';
	RETURN NEW;
END
$$;
CREATE TRIGGER events_fields BEFORE INSERT OR UPDATE OF body ON events
	FOR EACH ROW EXECUTE FUNCTION switchboard_event_fields();
UPDATE events SET body = body;

CREATE INDEX events_chat ON events (chat_id, id);
CREATE INDEX events_direction ON events (direction, id);
CREATE INDEX events_type ON events (msg_type, id);
CREATE INDEX matches_rule ON matches (rule, event_id);
CREATE INDEX attempts_at ON attempts (at, id);
CREATE INDEX attempts_outcome ON attempts (outcome, at);
CREATE INDEX jobs_dead_id ON jobs (id) WHERE state = 'dead';
