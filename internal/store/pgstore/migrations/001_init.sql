-- Switchboard's PostgreSQL schema, version 1: the SQLite schema at its
-- version 11 (internal/store/schema.go), with the columns and tables that
-- let several instances share it. Times are UTC unix milliseconds.

CREATE TABLE events (
	id           BIGSERIAL PRIMARY KEY,
	received_at  BIGINT  NOT NULL,
	body         BYTEA   NOT NULL,
	size         INTEGER NOT NULL,
	dedupe_key   BYTEA,  -- may hold NUL bytes (engine.DedupeKey)
	duplicate_of BIGINT,
	-- Sequence ids are not commit-ordered across instances, so the
	-- evaluator does not read "after a cursor": it reads the events not
	-- yet evaluated (a partial index), and its commit marks them.
	evaluated    BOOLEAN NOT NULL DEFAULT false,
	evaluated_by TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_unevaluated ON events (id) WHERE NOT evaluated;
CREATE INDEX events_received ON events (received_at);

CREATE TABLE dedupe (
	key      BYTEA  PRIMARY KEY,
	event_id BIGINT NOT NULL,
	seen_at  BIGINT NOT NULL
);
CREATE INDEX dedupe_seen_at ON dedupe (seen_at);

-- The highest event id evaluated (for /status; the evaluator does not use it).
CREATE TABLE cursors (
	name     TEXT   PRIMARY KEY,
	position BIGINT NOT NULL
);
INSERT INTO cursors (name, position) VALUES ('dispatch', 0);

CREATE TABLE matches (
	event_id        BIGINT  NOT NULL,
	rule            TEXT    NOT NULL,
	ruleset_version TEXT    NOT NULL,
	matched_at      BIGINT  NOT NULL,
	throttled       BOOLEAN NOT NULL DEFAULT false,
	PRIMARY KEY (event_id, rule)
);

CREATE TABLE jobs (
	id              BIGSERIAL PRIMARY KEY,
	event_id        BIGINT  NOT NULL,
	rule            TEXT    NOT NULL,
	ruleset_version TEXT    NOT NULL,
	action          INTEGER NOT NULL,
	kind            TEXT    NOT NULL,
	destination     TEXT    NOT NULL,
	request         BYTEA   NOT NULL,
	idempotency_key TEXT    NOT NULL,
	state           TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT  NOT NULL,
	lease_until     BIGINT  NOT NULL DEFAULT 0,
	-- The instance holding the lease, so that a restarted instance
	-- releases its own leases at once (and no one else's).
	claimed_by      TEXT    NOT NULL DEFAULT '',
	last_status     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      BIGINT  NOT NULL,
	updated_at      BIGINT  NOT NULL,
	queued_at       BIGINT  NOT NULL DEFAULT 0,
	UNIQUE (event_id, rule, action)
);
CREATE INDEX jobs_ready ON jobs (next_attempt_at, id) WHERE state IN ('pending', 'retry');
CREATE INDEX jobs_dead_rule ON jobs (rule) WHERE state = 'dead';
CREATE INDEX jobs_dead_destination ON jobs (destination) WHERE state = 'dead';
CREATE INDEX jobs_claimed ON jobs (claimed_by) WHERE state IN ('pending', 'retry') AND lease_until > 0;

CREATE TABLE attempts (
	id         BIGSERIAL PRIMARY KEY,
	job_id     BIGINT  NOT NULL,
	at         BIGINT  NOT NULL,
	outcome    TEXT    NOT NULL,
	snoozed    INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	error      TEXT    NOT NULL,
	latency_us BIGINT  NOT NULL
);
CREATE INDEX attempts_job ON attempts (job_id, id);

CREATE TABLE quarantine (
	id          BIGSERIAL PRIMARY KEY,
	received_at BIGINT NOT NULL,
	reason      TEXT   NOT NULL,
	body        BYTEA  NOT NULL
);

CREATE TABLE chats (
	chat_id    TEXT   PRIMARY KEY,
	state      BYTEA  NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE chat_pending (
	chat_id TEXT   NOT NULL,
	at      BIGINT NOT NULL
);
CREATE INDEX chat_pending_chat ON chat_pending (chat_id, at);
CREATE TABLE team (
	phone      TEXT   PRIMARY KEY,
	first_seen BIGINT NOT NULL
);

CREATE TABLE timers (
	id       BIGSERIAL PRIMARY KEY,
	rule     TEXT   NOT NULL,
	event_id BIGINT NOT NULL,
	due_at   BIGINT NOT NULL,
	UNIQUE (rule, event_id)
);
CREATE INDEX timers_due ON timers (due_at, id);

CREATE TABLE schedules (
	rule    TEXT   PRIMARY KEY,
	last_at BIGINT NOT NULL
);
CREATE TABLE runs (
	rule         TEXT    NOT NULL,
	scheduled_at BIGINT  NOT NULL,
	ran_at       BIGINT  NOT NULL,
	acted        INTEGER NOT NULL,
	PRIMARY KEY (rule, scheduled_at)
);

CREATE TABLE throttles (
	rule TEXT NOT NULL,
	key  TEXT NOT NULL,
	acts TEXT NOT NULL,
	PRIMARY KEY (rule, key)
);

CREATE TABLE open_groups (
	rule     TEXT   NOT NULL,
	key      TEXT   NOT NULL,
	start    BIGINT NOT NULL,
	event_id BIGINT NOT NULL,
	PRIMARY KEY (rule, key, start)
);
CREATE TABLE open_group_items (
	seq      BIGSERIAL PRIMARY KEY,  -- the order the events joined
	rule     TEXT   NOT NULL,
	key      TEXT   NOT NULL,
	start    BIGINT NOT NULL,
	event_id BIGINT NOT NULL
);
CREATE INDEX open_group_items_group ON open_group_items (rule, key, start);

-- Several instances: the evaluation lease (one evaluator at a time, its
-- epoch fencing every commit) and the instances' heartbeats.
CREATE TABLE leases (
	name       TEXT        PRIMARY KEY,
	holder     TEXT        NOT NULL,
	epoch      BIGINT      NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE instances (
	id         TEXT        PRIMARY KEY,
	version    TEXT        NOT NULL,  -- the rules version it runs
	program    TEXT        NOT NULL,  -- the program's version
	started_at TIMESTAMPTZ NOT NULL,
	seen_at    TIMESTAMPTZ NOT NULL
);

-- Destination health shared by the instances (delivery.SharedHealth).
CREATE TABLE destination_health (
	destination TEXT    PRIMARY KEY,
	failures    INTEGER NOT NULL DEFAULT 0,
	paused      BOOLEAN NOT NULL DEFAULT false,
	next_probe  BIGINT  NOT NULL DEFAULT 0,
	probe_until BIGINT  NOT NULL DEFAULT 0
);
