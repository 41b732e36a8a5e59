package datanodes

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/protocol"
)

// TestTimeWindow: readings a year ahead of the node's clock, or before the
// epoch (what a time after 2262 wraps to in int64 nanoseconds), are
// refused and counted, never stored nor put on the live topic; past
// readings and those within the future bound are kept.
func TestTimeWindow(t *testing.T) {
	now := time.Unix(t0+100, 0)
	n := clockNode(t, now)
	s := n.Sink()
	s.Declare(driver.Field{Name: "a"})
	secs := int64(1e10)
	wrapped := secs * 1e9 // 1e10 s in ns wraps negative
	cases := []struct {
		name string
		ns   int64
		keep bool
	}{
		{"past", sec(t0), true},
		{"now+30s", sec(t0 + 130), true},
		{"a year ahead", now.AddDate(1, 0, 0).UnixNano(), false},
		{"wrapped 1e10 s", wrapped, false},
		{"before epoch", -1, false},
		{"max int64", math.MaxInt64, false},
	}
	for _, c := range cases {
		before := n.Stats().SinkErrors
		s.Emit(protocol.Reading{Field: "a", Time: c.ns, Value: 1.0})
		refused := n.Stats().SinkErrors - before
		if c.keep != (refused == 0) {
			t.Errorf("%s: refused %d, want keep=%v", c.name, refused, c.keep)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.live {
		if r.Time > now.Add(DefaultTimeFuture).UnixNano() || r.Time < 0 {
			t.Errorf("implausible reading on the live topic: %d", r.Time)
		}
	}
	if got := n.fields["a"].latest.Time; got != sec(t0+130) {
		t.Errorf("latest = %d, want %d", got, sec(t0+130))
	}
}

// clockNode is a node that never dials, on a memory store, whose clock
// stands at now.
func clockNode(t *testing.T, now time.Time) *Node {
	t.Helper()
	noRouter := func(context.Context) (*client.Client, error) { return nil, errors.New("no router in this test") }
	n, err := New(Config{Name: "n1", Clock: func() time.Time { return now }}, noRouter, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
