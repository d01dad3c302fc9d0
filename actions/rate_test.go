package actions_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in    string
		burst int
		want  actions.Rate
		err   string
	}{
		{"1/s", 0, actions.Rate{PerSecond: 1, Burst: 1}, ""},
		{"30/m", 0, actions.Rate{PerSecond: 0.5, Burst: 1}, ""},
		{"3600/h", 0, actions.Rate{PerSecond: 1, Burst: 1}, ""},
		{"100/10s", 0, actions.Rate{PerSecond: 10, Burst: 10}, ""},
		{"5/s", 2, actions.Rate{PerSecond: 5, Burst: 2}, ""},
		{" none ", 0, actions.Rate{}, ""},
		{"fast", 0, actions.Rate{}, `rate: expected a number of sends per unit, such as 1/s, 30/m or 100/10s (or none), got "fast"`},
		{"0/s", 0, actions.Rate{}, `rate: expected a number of sends per unit, such as 1/s, 30/m or 100/10s (or none), got "0/s"`},
		{"1/fortnight", 0, actions.Rate{}, `rate: expected s, m, h or a duration such as 10s after the /, got "fortnight"`},
		{"1/s", -1, actions.Rate{}, `burst: expected a positive number of sends, got -1`},
	}
	for _, tt := range tests {
		got, err := actions.ParseRate(tt.in, tt.burst)
		if tt.err != "" {
			require.EqualError(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}
