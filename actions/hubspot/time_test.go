package hubspot_test

import "time"

func timeOf(y, mo, d, h, mi, s, ms int) int64 {
	return time.Date(y, time.Month(mo), d, h, mi, s, ms*int(time.Millisecond), time.UTC).UnixMilli()
}
