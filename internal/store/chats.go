package store

import (
	"context"
	"fmt"
	"strings"
)

// Chats returns the stored conversation states of the given chats (chat id
// -> the engine's JSON); chats without one are absent.
func (s *Store) Chats(ctx context.Context, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	const chunk = 500 // SQLite's bound on host parameters is far higher
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		rows, err := s.rdb.QueryContext(ctx,
			`SELECT chat_id, state FROM chats WHERE chat_id IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read chat states: %w", err)
		}
		for rows.Next() {
			var (
				id    string
				state []byte
			)
			if err := rows.Scan(&id, &state); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read chat states: %w", err)
			}
			out[id] = state
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read chat states: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// TeamPhones returns every number in the team directory.
func (s *Store) TeamPhones(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT phone FROM team ORDER BY phone`)
	if err != nil {
		return nil, fmt.Errorf("read team directory: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("read team directory: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read team directory: %w", err)
	}
	return out, nil
}
