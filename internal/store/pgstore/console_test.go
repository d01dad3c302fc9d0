package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

// TestConsoleColumns_NeverRefuseAnAppend: bodies that PostgreSQL's jsonb
// refuses (not UTF-8, a NUL character, not JSON, empty) are stored as
// posted, their console fields empty; a valid body's fields are read.
func TestConsoleColumns_NeverRefuseAnAppend(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgstore.Options{Instance: "a"})
	for _, tt := range []struct {
		name string
		body string
		chat string
	}{
		{"not UTF-8 in a string", "{\"chat_id\":\"c\xff\"}", ""},
		{"NUL escaped", `{"chat_id":"c\u0000","message":{"text":"x"}}`, ""},
		{"not JSON", "{{{", ""},
		{"empty", "", ""},
		{"a JSON array", `[1,2]`, ""},
		{"a JSON string", `"chat_id"`, ""},
		{"a JSON number", `42`, ""},
		{"JSON null", `null`, ""},
		{"a message that is not an object", `{"chat_id":"c2","message":"hi"}`, "c2"},
		{"a number as chat id", `{"chat_id":42}`, "42"},
		{"valid", `{"chat_id":"c1","message":{"type":"chat","text":"hé"}}`, "c1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := s.Append(ctx, store.NewEvent{Body: []byte(tt.body)})
			require.NoError(t, err)
			ev, err := s.Event(ctx, a.ID)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(ev.Body))
			p, err := s.ListEvents(ctx, store.EventFilter{BeforeID: a.ID + 1, Limit: 1})
			require.NoError(t, err)
			require.Len(t, p.Events, 1)
			assert.Equal(t, tt.chat, p.Events[0].ChatID)
		})
	}
}

// TestConsoleMigration_FillsStoredEvents: a database of schema version 1
// with events in it (bodies good and bad) gets the console's columns
// filled when a newer program migrates it.
func TestConsoleMigration_FillsStoredEvents(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	v1, err := os.ReadFile("migrations/001_init.sql")
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, string(v1))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE switchboard_schema (version INTEGER NOT NULL); INSERT INTO switchboard_schema VALUES (1)`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO events (received_at, body, size) VALUES
		(1000, convert_to('{"chat_id":"c1","chat_title":"Sales","direction":"received","message":{"type":"chat","text":"hello"}}', 'UTF8'), 10),
		(2000, '\xfffe7b', 3)`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	s, err := pgstore.Open(ctx, url, pgstore.Options{Instance: "a"})
	require.NoError(t, err)
	defer s.Close()
	var version int
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT version FROM switchboard_schema`).Scan(&version))
	assert.Equal(t, pgstore.SchemaVersion(), version)
	p, err := s.ListEvents(ctx, store.EventFilter{ChatID: "c1"})
	require.NoError(t, err)
	require.Len(t, p.Events, 1)
	assert.Equal(t, store.EventRow{ID: 1, ReceivedAt: p.Events[0].ReceivedAt, ChatID: "c1", ChatTitle: "Sales", Direction: "received", Type: "chat", Text: "hello"}, p.Events[0])
	p, err = s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	assert.Empty(t, p.Events[0].ChatID, "the body that is not UTF-8")
}
