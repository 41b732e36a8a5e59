package downsample

import (
	"math"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// TestBudgetWidthOneBucket: when the budget allows a single bucket (minmax
// with max_points 2 or 3), that bucket must hold the range and start just
// before it, never at the epoch.
func TestBudgetWidthOneBucket(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 55, 1, 123456789, time.UTC).UnixNano()
	for _, l := range []time.Duration{time.Second, time.Minute, 10 * time.Minute, 7 * 24 * time.Hour, 365 * 24 * time.Hour} {
		start, end := now-int64(l), now
		w := budgetWidth(start, end, 1)
		b := start / w * w
		if b > start || b+w < end {
			t.Errorf("range %v: bucket [%d, %d) does not hold [%d, %d)", l, b, b+w, start, end)
		}
		if start-b > 4*int64(l) {
			t.Errorf("range %v: bucket starts %v before the range", l, time.Duration(start-b))
		}
	}
	// End to end through Width with minmax and max_points 3.
	start, end := now-int64(10*time.Minute), now
	w := Width(start, end, 0, 3, protocol.AggMinMax)
	if start/w*w == 0 {
		t.Error("minmax bucket stamped at the epoch")
	}
}

// TestWidthSnapsToTiers: widths from max_points are multiples of a rollup
// tier, at most 25 % wider, never giving more points than asked.
func TestWidthSnapsToTiers(t *testing.T) {
	end := time.Date(2026, 11, 23, 20, 55, 1, 123456789, time.UTC).UnixNano()
	day := int64(24 * time.Hour)
	tests := []struct {
		span      int64
		maxPoints int64
		agg       string
		want      time.Duration
	}{
		{day, 1000, protocol.AggMean, 90 * time.Second},
		{7 * day, 1000, protocol.AggMean, 11 * time.Minute},
		{30 * day, 1000, protocol.AggMean, 50 * time.Minute},
		{2 * day, 1000, protocol.AggMean, 3 * time.Minute},
		{30 * day, 1000, protocol.AggMinMax, 90 * time.Minute},
		{365 * day, 1000, protocol.AggMean, 9 * time.Hour},
		{3 * 365 * day, 100, protocol.AggMean, 12 * 24 * time.Hour},
		{int64(time.Hour), 1000, protocol.AggMean, 3603604 * time.Microsecond},
	}
	for _, tc := range tests {
		w := Width(end-tc.span, end, 0, tc.maxPoints, tc.agg)
		if time.Duration(w) != tc.want {
			t.Errorf("span %v, max_points %d %s: width %v, want %v", time.Duration(tc.span), tc.maxPoints, tc.agg, time.Duration(w), tc.want)
		}
		per := int64(1)
		if tc.agg == protocol.AggMinMax {
			per = 2
		}
		if n := ((end-1)/w - (end-tc.span)/w + 1) * per; n > tc.maxPoints {
			t.Errorf("span %v: %d points, more than %d", time.Duration(tc.span), n, tc.maxPoints)
		}
	}
	// min_stride is kept as given.
	if w := Width(end-day, end, 86.4, 0, protocol.AggMean); w != 86400000000 {
		t.Errorf("min_stride 86.4: width %d", w)
	}
}

// TestBuckets: the buckets a range meets, counted from aligned bucket
// starts, also for ranges not aligned to them.
func TestBuckets(t *testing.T) {
	for _, c := range []struct{ start, end, w, want int64 }{
		{0, 0, 10, 0},
		{5, 5, 10, 0},
		{0, 10, 10, 1},
		{0, 11, 10, 2},
		{9, 11, 10, 2},
		{10, 20, 10, 1},
		{3, 997, 7, 143}, // buckets 0 to 994
		{-5, 5, 10, 2},
		{0, math.MaxInt64, math.MaxInt64, 1},
	} {
		if got := Buckets(c.start, c.end, c.w); got != c.want {
			t.Errorf("Buckets(%d, %d, %d) = %d, want %d", c.start, c.end, c.w, got, c.want)
		}
	}
}

func TestRoundWidth(t *testing.T) {
	for _, c := range []struct {
		span     time.Duration
		points   int
		interval time.Duration
		want     float64
	}{
		{time.Hour, 6, 0, 900},
		{time.Hour, 6, 30 * time.Minute, 1800},
		{10 * time.Minute, 60, time.Second, 15},
		{7 * 24 * time.Hour, 1000, 10 * time.Minute, 900},
		{30 * 24 * time.Hour, 1000, 0, 3600},
		{time.Second, 100, 0, 0.02},
		{time.Second, 11, 0, 0.1},
		{400 * 24 * time.Hour, 10, 0, 45 * 86400},
		{time.Hour, 100000, 0, 0.05},
	} {
		got := RoundWidth(c.span, c.points, c.interval)
		if got != c.want {
			t.Errorf("RoundWidth(%s, %d, %s) = %v, want %v", c.span, c.points, c.interval, got, c.want)
		}
		if n := c.span.Seconds()/got + 1; got > 0 && n > float64(c.points)+1e-9 {
			t.Errorf("RoundWidth(%s, %d): up to %.0f buckets", c.span, c.points, n)
		}
	}
}
