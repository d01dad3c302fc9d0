package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustSchedule(t *testing.T, spec, zone string) *Schedule {
	t.Helper()
	s, err := parseSchedule(spec, zone)
	require.NoError(t, err)
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestSchedulePrevTimes: Prev, IsRunTime and Times around chosen moments,
// times written in UTC.
func TestSchedulePrevTimes(t *testing.T) {
	tests := []struct {
		name, spec, zone string
		at               string
		run              bool     // IsRunTime(at)
		prev             string   // "" for none
		next             []string // Times(at, len(next))
	}{
		{name: "weekday 9am London, Saturday afternoon", spec: "0 9 * * MON-FRI", zone: "Europe/London",
			at: "2026-12-05T13:17:00Z", prev: "2026-12-04T09:00:00Z",
			next: []string{"2026-12-07T09:00:00Z", "2026-12-08T09:00:00Z", "2026-12-09T09:00:00Z"}},
		{name: "weekday 9am London, at a run", spec: "0 9 * * MON-FRI", zone: "Europe/London",
			at: "2026-12-07T09:00:00Z", run: true, prev: "2026-12-07T09:00:00Z",
			next: []string{"2026-12-08T09:00:00Z"}},
		{name: "weekday 9am London in summer is 08:00 UTC", spec: "0 9 * * MON-FRI", zone: "Europe/London",
			at: "2026-07-04T12:00:00Z", prev: "2026-07-03T08:00:00Z",
			next: []string{"2026-07-06T08:00:00Z"}},
		{name: "clocks go forward: 09:00 is 09:00 GMT then 08:00 UTC", spec: "0 9 * * *", zone: "Europe/London",
			at: "2026-03-29T07:30:00Z", prev: "2026-03-28T09:00:00Z",
			next: []string{"2026-03-29T08:00:00Z", "2026-03-30T08:00:00Z"}},
		{name: "clocks go forward: the run just after the change", spec: "0 9 * * *", zone: "Europe/London",
			at: "2026-03-29T08:00:00Z", run: true, prev: "2026-03-29T08:00:00Z",
			next: []string{"2026-03-30T08:00:00Z"}},
		{name: "clocks go forward: 01:30 does not exist that night", spec: "30 1 * * *", zone: "Europe/London",
			at: "2026-03-29T12:00:00Z", prev: "2026-03-28T01:30:00Z",
			next: []string{"2026-03-30T00:30:00Z"}},
		{name: "clocks go back: 01:30 happens twice", spec: "30 1 * * *", zone: "Europe/London",
			at: "2026-10-25T12:00:00Z", prev: "2026-10-25T01:30:00Z",
			next: []string{"2026-10-26T01:30:00Z"}},
		{name: "clocks go back: the first 01:30", spec: "30 1 * * *", zone: "Europe/London",
			at: "2026-10-25T01:29:59Z", prev: "2026-10-25T00:30:00Z",
			next: []string{"2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}},
		{name: "@every 5m", spec: "@every 5m", zone: "",
			at: "2026-12-05T13:17:00Z", prev: "2026-12-05T13:15:00Z",
			next: []string{"2026-12-05T13:20:00Z", "2026-12-05T13:25:00Z"}},
		{name: "@every 5m at a run", spec: "@every 5m", zone: "Europe/London",
			at: "2026-12-05T13:20:00Z", run: true, prev: "2026-12-05T13:20:00Z",
			next: []string{"2026-12-05T13:25:00Z"}},
		{name: "@daily New York", spec: "@daily", zone: "America/New_York",
			at: "2026-12-05T13:17:00Z", prev: "2026-12-05T05:00:00Z",
			next: []string{"2026-12-06T05:00:00Z", "2026-12-07T05:00:00Z"}},
		{name: "@daily UTC at midnight", spec: "@daily", zone: "",
			at: "2026-01-01T00:00:00Z", run: true, prev: "2026-01-01T00:00:00Z",
			next: []string{"2026-01-02T00:00:00Z"}},
		{name: "leap day, years back", spec: "0 12 29 2 *", zone: "",
			at: "2027-06-01T00:00:00Z", prev: "2024-02-29T12:00:00Z",
			next: []string{"2028-02-29T12:00:00Z"}},
		{name: "seconds field", spec: "30 0 9 * * *", zone: "",
			at: "2026-12-05T09:00:30.9Z", run: true, prev: "2026-12-05T09:00:30Z",
			next: []string{"2026-12-06T09:00:30Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSchedule(t, tc.spec, tc.zone)
			at := utc(tc.at)
			require.Equal(t, tc.run, s.IsRunTime(at), "IsRunTime")
			prev := s.Prev(at)
			if tc.prev == "" {
				require.True(t, prev.IsZero(), "Prev = %v", prev)
			} else {
				require.Equal(t, utc(tc.prev), prev.UTC(), "Prev")
				require.Equal(t, s.Location, prev.Location())
				require.True(t, s.IsRunTime(prev))
			}
			got := s.Times(at, len(tc.next))
			require.Len(t, got, len(tc.next))
			for i, want := range tc.next {
				require.Equal(t, utc(want), got[i].UTC(), "Times[%d]", i)
				require.Equal(t, s.Location, got[i].Location())
			}
		})
	}
}

// TestSchedulePrevNone: a spec that never fires (parseSchedule refuses it;
// the parser does not) has no previous or next times.
func TestSchedulePrevNone(t *testing.T) {
	sched, err := cronParser.Parse("0 0 30 2 *")
	require.NoError(t, err)
	s := &Schedule{Spec: "0 0 30 2 *", Location: time.UTC, sched: sched}
	at := utc("2026-06-01T00:00:00Z")
	require.True(t, s.Prev(at).IsZero())
	require.False(t, s.IsRunTime(at))
	require.Empty(t, s.Times(at, 3))
	require.Nil(t, mustSchedule(t, "@daily", "").Times(at, 0))
}

// TestSchedulePrevAgreesWithNext: for random moments, Prev(t) is a run at
// or before t with no run between it and t, and Times agree with Next.
func TestSchedulePrevAgreesWithNext(t *testing.T) {
	specs := []struct{ spec, zone string }{
		{"0 9 * * MON-FRI", "Europe/London"},
		{"30 1 * * *", "Europe/London"},
		{"*/7 2-3 * * *", "America/Sao_Paulo"},
		{"0 0 1 * *", "Australia/Lord_Howe"},
		{"15 10 * * SUN", "Asia/Kolkata"},
		{"* * 9 1 1 *", ""},
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := utc("2024-01-01T00:00:00Z")
	for _, sp := range specs {
		s := mustSchedule(t, sp.spec, sp.zone)
		for range 200 {
			at := base.Add(time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour))))
			prev := s.Prev(at)
			require.False(t, prev.IsZero(), "%s at %v", sp.spec, at)
			require.False(t, prev.After(at))
			require.True(t, s.IsRunTime(prev), "%s: Prev(%v) = %v is not a run", sp.spec, at, prev)
			require.True(t, s.Next(prev).After(at), "%s: a run between Prev(%v) = %v and it", sp.spec, at, prev)
			times := s.Times(at, 3)
			require.Len(t, times, 3)
			require.True(t, times[0].Equal(s.Next(at)))
			require.True(t, times[2].Equal(s.Next(s.Next(s.Next(at)))))
		}
	}
}
