package store

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuarantine_KeepsNewestBodiesExactly(t *testing.T) {
	dir := t.TempDir()
	opt := quiet
	opt.QuarantineMax = 3
	s := openT(t, dir, opt)

	var ids []int64
	for i := range 5 {
		id, err := s.Quarantine(t.Context(), fmt.Appendf(nil, "{\"broken\": %d\x00\xff", i), fmt.Sprintf("unexpected EOF %d", i))
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err := s.Quarantine(t.Context(), nil, "empty body")
	require.NoError(t, err)

	list, err := s.ListQuarantine(t.Context(), 0)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, ids[4], list[1].ID, "newest first")
	require.Equal(t, "unexpected EOF 4", list[1].Reason)
	require.Equal(t, len("{\"broken\": 4\x00\xff"), list[1].Size)
	require.Nil(t, list[1].Body)
	require.Zero(t, list[0].Size)

	for _, id := range ids[:3] {
		_, err := s.GetQuarantine(t.Context(), id)
		require.ErrorIs(t, err, ErrNotFound, "oldest dropped")
	}
	require.NoError(t, s.Close())

	s = openT(t, dir, opt)
	q, err := s.GetQuarantine(t.Context(), ids[3])
	require.NoError(t, err)
	require.Equal(t, []byte("{\"broken\": 3\x00\xff"), q.Body)
	require.Equal(t, "unexpected EOF 3", q.Reason)
	require.False(t, q.ReceivedAt.IsZero())

	require.NoError(t, s.DeleteQuarantine(t.Context(), ids[3]))
	require.ErrorIs(t, s.DeleteQuarantine(t.Context(), ids[3]), ErrNotFound)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Quarantined)
	require.Zero(t, st.Events, "quarantined bodies are not events")

	list, err = s.ListQuarantine(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, list, 1)
}
