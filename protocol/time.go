package protocol

import (
	"errors"
	"fmt"
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

// FromTime converts a time to float seconds since the UNIX epoch; a time
// int64 nanoseconds do not hold (a request for the year 3000) converts
// too, where UnixNano would wrap.
func FromTime(t time.Time) float64 {
	if t.Before(MinNanosTime) || t.After(MaxNanosTime) {
		return float64(t.Unix()) + float64(t.Nanosecond())/1e9
	}
	return float64(t.UnixNano()) / 1e9
}

// ToTime converts float seconds since the UNIX epoch to a time, rounded to
// the microsecond that a float64 holds exactly for present-day dates. s
// must be finite; a time.Time holds any such s up to about 9.2e18.
func ToTime(s float64) time.Time {
	sec, frac := math.Modf(s)
	ns := math.Round(frac*1e6) * 1e3
	return time.Unix(int64(sec), int64(ns)).UTC()
}

// The times int64 nanoseconds since the epoch hold, every reading's time
// in a data node: 1677-09-21 to 2262-04-11.
var (
	MinNanosTime = time.Unix(0, math.MinInt64).UTC()
	MaxNanosTime = time.Unix(0, math.MaxInt64).UTC()
)

// ErrTimeRange is wrapped by the errors of conversions of a time that
// int64 nanoseconds do not hold (before MinNanosTime, after MaxNanosTime,
// NaN or infinite): such a time would wrap to another date.
var ErrTimeRange = errors.New("time outside what int64 nanoseconds hold (1677-09-21 to 2262-04-11)")

// ToNanos converts float seconds since the epoch to integer nanoseconds,
// rounded to the microsecond. A time outside MinNanosTime..MaxNanosTime
// (1e10 s is the year 2286), NaN or an infinity is an error wrapping
// ErrTimeRange, never a wrapped value.
func ToNanos(s float64) (int64, error) {
	// 1e11 s bounds the float first, so that ToTime's int64 is exact.
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) >= 1e11 {
		return 0, fmt.Errorf("%w: %v s since the epoch", ErrTimeRange, s)
	}
	ns, err := TimeNanos(ToTime(s))
	if err != nil {
		return 0, fmt.Errorf("%w: %v s since the epoch", ErrTimeRange, s)
	}
	return ns, nil
}

// TimeNanos is t.UnixNano for a t that int64 nanoseconds hold, and an
// error wrapping ErrTimeRange otherwise (where UnixNano wraps).
func TimeNanos(t time.Time) (int64, error) {
	if t.Before(MinNanosTime) || t.After(MaxNanosTime) {
		return 0, fmt.Errorf("%w: %s", ErrTimeRange, t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// ClampNanos is ToNanos for the bounds of a request, where a time past
// either end means "from the beginning" or "to the end": it saturates at
// math.MinInt64 and math.MaxInt64 instead of failing; NaN gives 0 (callers
// refuse NaN bounds before).
func ClampNanos(s float64) int64 {
	switch {
	case math.IsNaN(s):
		return 0
	case s >= float64(math.MaxInt64)/1e9:
		return math.MaxInt64
	case s <= float64(math.MinInt64)/1e9:
		return math.MinInt64
	}
	ns, err := ToNanos(s)
	if err != nil { // within a microsecond of either end
		if s > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return ns
}

// FromNanos converts integer nanoseconds since the epoch to float seconds.
func FromNanos(ns int64) float64 { return float64(ns) / 1e9 }
