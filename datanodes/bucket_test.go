package datanodes

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
	// End to end through bucketWidth with minmax and max_points 3.
	start, end := now-int64(10*time.Minute), now
	w := bucketWidth(start, end, 0, 3, protocol.AggMinMax)
	if start/w*w == 0 {
		t.Error("minmax bucket stamped at the epoch")
	}
}

// TestFinalizedEchoesEnd: once everything up to end is final, a caller
// comparing finalized_until >= end must see it hold, although the node
// rounds request times to the microsecond.
func TestFinalizedEchoesEnd(t *testing.T) {
	n := &Node{now: time.Now}
	n.cfg.Store.FlushInterval = Duration(time.Second)
	for _, endSec := range []float64{1795466100.0000004, 1795466100.9999996, 1795466100.12345678} {
		q := request{end: toNanos(endSec), endSec: endSec}
		if got := *n.finalized(q, q.end)("tl"); got < endSec {
			t.Errorf("finalized_until %.9f < end %.9f", got, endSec)
		}
	}
	// A progressive slice reports its own end, a future end reports now.
	q := request{end: time.Now().Add(time.Hour).UnixNano(), endSec: protocol.FromTime(time.Now().Add(time.Hour))}
	if got := *n.finalized(q, q.end)("tl"); got > protocol.FromTime(time.Now()) {
		t.Errorf("future end finalized at %v", got)
	}
}
