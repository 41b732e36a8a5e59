package datanodes

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/internal/testutil"
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

// TestFinalizedStaysTrue: once a reply has called data final, a reading
// re-emitted inside that span (the measured case: 103 became 999) or a new
// one there is refused, counted and logged once per field; readings after
// the span, and fields no reply covered, are still taken.
func TestFinalizedStaysTrue(t *testing.T) {
	var clock atomic.Int64
	clock.Store(sec(t0 + 100))
	var logs testutil.SyncBuffer
	n := movingClockNode(t, &clock, slog.New(slog.NewTextHandler(&logs, nil)))
	s := n.Sink()
	s.Declare(driver.Field{Name: "a"}, driver.Field{Name: "b"})
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 90), Value: 103.0}, protocol.Reading{Field: "b", Time: sec(t0 + 90), Value: 1.0})
	ctx := context.Background()
	get := func(field string) (float64, float64) {
		t.Helper()
		res, err := n.getData(ctx, wamp.List{wamp.List{field}, t0, t0 + 100}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := protocol.DecodeDataResult(res[0])
		if err != nil || r.Data[field].Len() == 0 {
			t.Fatalf("get_data %s = %v, %v", field, res, err)
		}
		return r.Data[field].Nums[0], *r.Timeline[field].FinalizedUntil
	}
	v, fin := get("a")
	if v != 103 || fin != t0+99 {
		t.Fatalf("a = %v finalized until %v, want 103 until %d", v, fin, t0+99)
	}
	clock.Store(sec(t0 + 200))
	before := n.Stats().SinkErrors
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 90), Value: 999.0}) // re-emitted
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 95), Value: 5.0})   // new, inside the span
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 99.5), Value: 6.0}) // after it: kept
	s.Emit(protocol.Reading{Field: "b", Time: sec(t0 + 90), Value: 2.0})   // never called final
	if got := n.Stats().SinkErrors - before; got != 2 {
		t.Errorf("%d readings refused, want 2", got)
	}
	if v, _ := get("a"); v != 103 {
		t.Errorf("a at %d = %v after a reply called it final, want 103", t0+90, v)
	}
	if v, _ := get("b"); v != 2 {
		t.Errorf("b = %v, want 2 (no reply had called it final)", v)
	}
	res, _ := n.getData(ctx, wamp.List{wamp.List{"a"}, t0 + 99, t0 + 100}, nil, nil)
	if r, _ := protocol.DecodeDataResult(res[0]); r.Data["a"].Len() != 1 {
		t.Errorf("reading after the finalized span lost: %v", res)
	}
	if c := strings.Count(logs.String(), "finalized"); c != 1 {
		t.Errorf("%d log lines about the finalized span, want 1:\n%s", c, logs.String())
	}
}

// movingClockNode is a node that never dials, on a memory store, whose
// clock reads clock (nanoseconds).
func movingClockNode(t *testing.T, clock *atomic.Int64, log *slog.Logger) *Node {
	t.Helper()
	noRouter := func(context.Context) (*client.Client, error) { return nil, errors.New("no router in this test") }
	n, err := New(Config{Name: "n1", Clock: func() time.Time { return time.Unix(0, clock.Load()) }}, noRouter, memstore.New(), log)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
