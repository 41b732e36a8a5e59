package downsample

import (
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
