package actions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Duration
		err  string
	}{
		{"5s, 1m,10m", []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute}, ""},
		{"0,2h", []time.Duration{0, 2 * time.Hour}, ""},
		{"5s,,1m", nil, `retry schedule: expected a duration such as 5s, 10m or 2h, got ""`},
		{"-1s", nil, `retry schedule: expected a duration such as 5s, 10m or 2h, got "-1s"`},
		{"200h", nil, `retry schedule: a delay of at most 168h (a week), got 200h`},
	}
	for _, tt := range tests {
		got, err := actions.ParseSchedule(tt.in)
		if tt.err != "" {
			require.EqualError(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}
