package protocol

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestToNanos: times int64 nanoseconds hold convert to the microsecond;
// anything else (the year 2286 is 1e10 s, a millisecond epoch read as
// seconds is 1e12 s) is an ErrTimeRange error, never a wrapped value.
func TestToNanos(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want int64
		ok   bool
	}{
		{1_700_000_000.123456, 1_700_000_000_123_456_000, true},
		{0, 0, true},
		{-1.5, -1_500_000_000, true},
		{9_223_372_036.854774, 9_223_372_036_854_774_000, true},   // 2262-04-11
		{-9_223_372_036.854774, -9_223_372_036_854_774_000, true}, // 1677-09-21
		{9_223_372_036.854778, 0, false},
		{-9_223_372_036.854778, 0, false},
		{1e10, 0, false},              // year 2286
		{1_795_466_100_123, 0, false}, // milliseconds read as seconds
		{1e300, 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{math.Inf(-1), 0, false},
	} {
		got, err := ToNanos(tc.s)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ToNanos(%v) = %d, %v; want %d, ok=%v", tc.s, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrTimeRange) {
			t.Errorf("ToNanos(%v): %v does not wrap ErrTimeRange", tc.s, err)
		}
	}
}

func TestTimeNanosAndClamp(t *testing.T) {
	if _, err := TimeNanos(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrTimeRange) {
		t.Errorf("TimeNanos(2300) error %v", err)
	}
	if _, err := TimeNanos(time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrTimeRange) {
		t.Errorf("TimeNanos(1600) error %v", err)
	}
	if ns, err := TimeNanos(MaxNanosTime); err != nil || ns != math.MaxInt64 {
		t.Errorf("TimeNanos(max) = %d, %v", ns, err)
	}
	if got := FromTime(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); got != 32_503_680_000 {
		t.Errorf("FromTime(3000) = %v, want 32503680000", got)
	}
	for _, tc := range []struct {
		s    float64
		want int64
	}{
		{1e10, math.MaxInt64}, {9_223_372_036.854776, math.MaxInt64}, {math.Inf(1), math.MaxInt64},
		{-1e10, math.MinInt64}, {math.Inf(-1), math.MinInt64}, {1.5, 1_500_000_000},
	} {
		if got := ClampNanos(tc.s); got != tc.want {
			t.Errorf("ClampNanos(%v) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
