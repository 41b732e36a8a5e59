package datanodes

import (
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

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
