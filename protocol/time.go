package protocol

import (
	"math"
	"time"
)

// ResolveTime applies the sisock time rule: a request time t <= 0 means
// now + t ("t seconds ago", 0 = now); a positive t is seconds since the UNIX
// epoch.
func ResolveTime(t float64, now time.Time) float64 {
	if t <= 0 {
		return FromTime(now) + t
	}
	return t
}

// FromTime converts a time to float seconds since the UNIX epoch.
func FromTime(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// ToTime converts float seconds since the UNIX epoch to a time, rounded to
// the microsecond that a float64 holds exactly for present-day dates.
func ToTime(s float64) time.Time {
	sec, frac := math.Modf(s)
	ns := math.Round(frac*1e6) * 1e3
	return time.Unix(int64(sec), int64(ns)).UTC()
}

// ToNanos converts float seconds since the epoch to integer nanoseconds,
// rounded to the microsecond.
func ToNanos(s float64) int64 { return ToTime(s).UnixNano() }

// FromNanos converts integer nanoseconds since the epoch to float seconds.
func FromNanos(ns int64) float64 { return float64(ns) / 1e9 }
