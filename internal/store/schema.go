package store

import (
	"context"
	"database/sql"
	"fmt"
)

// dispatchCursor names the evaluation worker's row in cursors.
const dispatchCursor = "dispatch"

// migrations are applied in order, each in its own transaction, and counted
// in PRAGMA user_version. Append new ones; never edit a released one.
//
// Times are UTC unix milliseconds (BIGINT), ids are 64-bit and only grow
// (AUTOINCREMENT), so the SQL below ports to Postgres with BIGINT identity
// columns and BYTEA for BLOB.
var migrations = []string{
	// 1: event log, dedupe keys, cursor, outbox, attempts, quarantine.
	`
CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	received_at INTEGER NOT NULL,
	body        BLOB    NOT NULL,  -- raw request body, byte-exact
	size        INTEGER NOT NULL,  -- length(body), summed for the disk budget
	dedupe_key  TEXT               -- NULL: never deduplicated
);

-- One row per dedupe key, kept at least as long as the dedupe window and
-- pruned by seen_at (Prune), independently of the events themselves.
CREATE TABLE dedupe (
	key      TEXT    PRIMARY KEY,
	event_id INTEGER NOT NULL,
	seen_at  INTEGER NOT NULL
);
CREATE INDEX dedupe_seen_at ON dedupe (seen_at);

CREATE TABLE cursors (
	name     TEXT    PRIMARY KEY,
	position INTEGER NOT NULL
);
INSERT INTO cursors (name, position) VALUES ('dispatch', 0);

-- Which rules matched which event, under which ruleset version.
CREATE TABLE matches (
	event_id        INTEGER NOT NULL,
	rule            TEXT    NOT NULL,
	ruleset_version TEXT    NOT NULL,
	matched_at      INTEGER NOT NULL,
	PRIMARY KEY (event_id, rule)
);

-- The outbox: one delivery job per matched action.
CREATE TABLE jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id        INTEGER NOT NULL,
	rule            TEXT    NOT NULL,
	ruleset_version TEXT    NOT NULL,
	action          INTEGER NOT NULL,  -- index of the action in the rule
	kind            TEXT    NOT NULL,
	destination     TEXT    NOT NULL,
	request         BLOB    NOT NULL,  -- rendered request, JSON
	idempotency_key TEXT    NOT NULL,
	state           TEXT    NOT NULL,  -- pending | retry | done | dead
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	last_status     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',  -- for dead jobs: the reason
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	UNIQUE (event_id, rule, action)
);
CREATE INDEX jobs_due ON jobs (state, next_attempt_at);
CREATE INDEX jobs_rule ON jobs (rule, state);
CREATE INDEX jobs_destination ON jobs (destination, state);

-- One row per delivery attempt (Finish).
CREATE TABLE attempts (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id     INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	outcome    TEXT    NOT NULL,  -- done | retry | dead
	snoozed    INTEGER NOT NULL,  -- 1: retry that did not count as an attempt
	status     INTEGER NOT NULL,  -- e.g. HTTP status; 0 if none
	error      TEXT    NOT NULL,
	latency_us INTEGER NOT NULL
);
CREATE INDEX attempts_job ON attempts (job_id, id);

-- Raw bodies that failed to parse, bounded (Options.QuarantineMax).
CREATE TABLE quarantine (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	received_at INTEGER NOT NULL,
	reason      TEXT    NOT NULL,
	body        BLOB    NOT NULL
);
`,
	// 2: a duplicate is kept as its own event row pointing at the original,
	// so rules that opt out of dedupe still see every copy. NULL: an original.
	`
ALTER TABLE events ADD COLUMN duplicate_of INTEGER NULL;
`,
	// 3: when a job was (re)queued, from which the delivery's age limit
	// counts: a replayed dead letter starts a new life.
	`
ALTER TABLE jobs ADD COLUMN queued_at INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET queued_at = created_at;
`,
	// 4: conversation state per chat (the engine's JSON), and the team
	// directory: every team member's number seen.
	`
CREATE TABLE chats (
	chat_id    TEXT PRIMARY KEY,
	state      BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE team (
	phone      TEXT PRIMARY KEY,
	first_seen INTEGER NOT NULL
);
`,
	// 5: delayed rules (after:): a check of one rule for one event, due at
	// a time; done once it ran (whatever it found).
	`
CREATE TABLE timers (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	rule     TEXT    NOT NULL,
	event_id INTEGER NOT NULL,
	due_at   INTEGER NOT NULL,
	done     INTEGER NOT NULL DEFAULT 0,
	UNIQUE (rule, event_id)
);
CREATE INDEX timers_due ON timers (done, due_at);
`,
	// 6: scheduled rules: where each schedule stands, and one row per run
	// (rule, scheduled time), so a run happens once. Jobs of a run carry
	// RunEventID (a negative id).
	`
CREATE TABLE schedules (
	rule    TEXT PRIMARY KEY,
	last_at INTEGER NOT NULL
);
CREATE TABLE runs (
	rule         TEXT    NOT NULL,
	scheduled_at INTEGER NOT NULL,
	ran_at       INTEGER NOT NULL,
	acted        INTEGER NOT NULL,
	PRIMARY KEY (rule, scheduled_at)
);
CREATE INDEX events_received ON events (received_at);
`,
	// 7: throttled rules: per rule and key, the end of the current window;
	// a match whose actions a throttle dropped is marked.
	`
CREATE TABLE throttles (
	rule  TEXT    NOT NULL,
	key   TEXT    NOT NULL,
	until INTEGER NOT NULL,
	PRIMARY KEY (rule, key)
);
ALTER TABLE matches ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;
`,
	// 8: grouped rules: an open group per rule and key collects events
	// until its window ends, then acts once for all of them.
	`
CREATE TABLE groups (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	rule       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	window_end INTEGER NOT NULL,
	flushed    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX groups_open ON groups (rule, key) WHERE flushed = 0;
CREATE INDEX groups_due ON groups (flushed, window_end);
CREATE TABLE group_items (
	group_id INTEGER NOT NULL,
	event_id INTEGER NOT NULL,
	PRIMARY KEY (group_id, event_id)
);
`,
	// 9: per-chat scheduled rules act once per chat episode.
	`
CREATE TABLE episodes (
	rule    TEXT NOT NULL,
	chat_id TEXT NOT NULL,
	episode TEXT NOT NULL,
	PRIMARY KEY (rule, chat_id, episode)
);
`,
	// 10: the store only persists what the conversation engine decides.
	// A chat's pending (unanswered) message times become rows, so that a
	// chat's record stays small and is never rewritten whole; throttle
	// windows keep the times that acted (decided in both directions of
	// message time); open groups are named by rule, key and the time of
	// their first message; per-chat episodes move into the chat's record;
	// checks that ran are deleted. Open throttle windows and reported
	// episodes start afresh.
	`
CREATE TABLE chat_pending (
	chat_id TEXT    NOT NULL,
	at      INTEGER NOT NULL
);
CREATE INDEX chat_pending_chat ON chat_pending (chat_id, at);
INSERT INTO chat_pending (chat_id, at)
	SELECT c.chat_id, CAST(ROUND((julianday(p.value) - 2440587.5) * 86400000) AS INTEGER)
	FROM chats c, json_each(json_extract(c.state, '$.pending')) p
	WHERE json_valid(c.state) AND json_type(c.state, '$.pending') = 'array';
UPDATE chats SET state = json_remove(state, '$.pending') WHERE json_valid(state);

DROP TABLE throttles;
CREATE TABLE throttles (
	rule TEXT NOT NULL,
	key  TEXT NOT NULL,
	acts TEXT NOT NULL,  -- JSON list of the unix ms times that acted, ascending
	PRIMARY KEY (rule, key)
);

CREATE TABLE open_groups (
	rule     TEXT    NOT NULL,
	key      TEXT    NOT NULL,
	start    INTEGER NOT NULL,  -- time of the first message
	event_id INTEGER NOT NULL,  -- the first message joined
	PRIMARY KEY (rule, key, start)
);
CREATE TABLE open_group_items (
	rule     TEXT    NOT NULL,
	key      TEXT    NOT NULL,
	start    INTEGER NOT NULL,
	event_id INTEGER NOT NULL
);
CREATE INDEX open_group_items_group ON open_group_items (rule, key, start);
INSERT INTO open_groups (rule, key, start, event_id)
	SELECT g.rule, g.key, g.window_end, MIN(i.event_id) FROM groups g JOIN group_items i ON i.group_id = g.id
	WHERE g.flushed = 0 GROUP BY g.id;
INSERT INTO open_group_items (rule, key, start, event_id)
	SELECT g.rule, g.key, g.window_end, i.event_id FROM groups g JOIN group_items i ON i.group_id = g.id
	WHERE g.flushed = 0 ORDER BY g.id, i.event_id;
DROP TABLE group_items;
DROP TABLE groups;
DROP TABLE episodes;
DELETE FROM timers WHERE done = 1;
DROP INDEX timers_due;
CREATE INDEX timers_due ON timers (due_at, id);
`,
	// 11: every job is inserted and changes state at least once, and each
	// index on its state costs a write each time. The indexes by rule and
	// by destination now hold only dead letters (what replays by rule or
	// destination look for); the admin lists of other states read the
	// newest jobs first instead. The jobs waiting to be sent are indexed in
	// the order they are claimed, so that a claim reads the first few of
	// them instead of sorting every job due (which made each claim cost
	// the whole backlog).
	`
DROP INDEX jobs_due;
CREATE INDEX jobs_ready ON jobs (next_attempt_at, id) WHERE state IN ('pending', 'retry');
DROP INDEX jobs_rule;
DROP INDEX jobs_destination;
CREATE INDEX jobs_dead_rule ON jobs (rule) WHERE state = 'dead';
CREATE INDEX jobs_dead_destination ON jobs (destination) WHERE state = 'dead';
`,
	// 12 (issue 10): the web console's filters and charts. The fields it
	// filters events by are virtual columns read from the stored body (no
	// copy of them is written; a body that is not JSON gives NULLs), indexed
	// with the id so that a filtered list reads newest first and stops at a
	// page. Matches are found by rule, attempts by time (the outcomes
	// chart), dead letters newest first. PostgreSQL: the same columns as
	// columns filled by a trigger (pgstore's migrations/002_console.sql).
	`
ALTER TABLE events ADD COLUMN chat_id TEXT GENERATED ALWAYS AS
	(CASE WHEN json_valid(body) THEN json_extract(body, '$.chat_id') END) VIRTUAL;
ALTER TABLE events ADD COLUMN chat_title TEXT GENERATED ALWAYS AS
	(CASE WHEN json_valid(body) THEN json_extract(body, '$.chat_title') END) VIRTUAL;
ALTER TABLE events ADD COLUMN direction TEXT GENERATED ALWAYS AS
	(CASE WHEN json_valid(body) THEN json_extract(body, '$.direction') END) VIRTUAL;
ALTER TABLE events ADD COLUMN msg_type TEXT GENERATED ALWAYS AS
	(CASE WHEN json_valid(body) THEN json_extract(body, '$.message.type') END) VIRTUAL;
ALTER TABLE events ADD COLUMN msg_text TEXT GENERATED ALWAYS AS
	(CASE WHEN json_valid(body) THEN json_extract(body, '$.message.text') END) VIRTUAL;
CREATE INDEX events_chat ON events (chat_id, id);
CREATE INDEX events_direction ON events (direction, id);
CREATE INDEX events_type ON events (msg_type, id);
CREATE INDEX matches_rule ON matches (rule, event_id);
CREATE INDEX attempts_at ON attempts (at);
CREATE INDEX attempts_outcome ON attempts (outcome, at);
CREATE INDEX jobs_dead_id ON jobs (id) WHERE state = 'dead';
`,
}

// migrate brings the schema on conn up to date.
func migrate(ctx context.Context, conn *sql.Conn) error {
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program knows (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if err := applyMigration(ctx, conn, v+1, migrations[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, version int, script string) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, script); err != nil {
		return err
	}
	// user_version is stored in the file header and is transactional.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
