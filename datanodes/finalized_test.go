package datanodes

import (
	"context"
	"errors"
	"fmt"
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
		if got := *n.finalized(q, 0, q.end)("tl"); got < endSec {
			t.Errorf("finalized_until %.9f < end %.9f", got, endSec)
		}
	}
	// A progressive slice reports its own end, a future end reports now.
	q := request{end: time.Now().Add(time.Hour).UnixNano(), endSec: protocol.FromTime(time.Now().Add(time.Hour))}
	if got := *n.finalized(q, 0, q.end)("tl"); got > protocol.FromTime(time.Now()) {
		t.Errorf("future end finalized at %v", got)
	}
}

// TestFinalizedStaysTrue: once a reply has called data final, a reading
// re-emitted inside that span, [start, finalized_until) (the measured
// case: 103 became 999), or a new one there is refused, counted and
// logged once per field; readings after or before the span, and fields no
// reply covered, are still taken.
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
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 85), Value: 5.0})   // new, inside the span
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 99.5), Value: 6.0}) // after it: kept
	s.Emit(protocol.Reading{Field: "b", Time: sec(t0 + 90), Value: 2.0})   // never called final
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 - 50), Value: 7.0})   // before the span: kept
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
	res, _ = n.getData(ctx, wamp.List{wamp.List{"a"}, t0 - 60, t0}, nil, nil)
	if r, _ := protocol.DecodeDataResult(res[0]); r.Data["a"].Len() != 1 {
		t.Errorf("reading before the finalized span lost: %v", res)
	}
	if c := strings.Count(logs.String(), "called final"); c != 1 {
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

// TestSpans: finalized spans merge when they meet or overlap, stay sorted,
// and past maxSpans the two nearest merge.
func TestSpans(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  []span
		want spans
	}{
		{"one", []span{{10, 20}}, spans{{10, 20}}},
		{"disjoint, sorted", []span{{30, 40}, {10, 20}}, spans{{10, 20}, {30, 40}}},
		{"overlap", []span{{10, 20}, {15, 30}}, spans{{10, 30}}},
		{"adjacent", []span{{10, 20}, {20, 30}}, spans{{10, 30}}},
		{"bridging", []span{{10, 20}, {30, 40}, {50, 60}, {15, 55}}, spans{{10, 60}}},
		{"inside", []span{{10, 40}, {20, 30}}, spans{{10, 40}}},
		{"polling a window ending now", []span{{0, 100}, {10, 110}, {20, 120}}, spans{{0, 120}}},
	} {
		var ss spans
		for _, s := range tc.add {
			ss = ss.add(s)
		}
		if fmt.Sprint(ss) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, ss, tc.want)
		}
	}
	var ss spans
	for i := range maxSpans + 1 {
		gap := int64(10)
		if i == 5 {
			gap = 1 // spans 4 and 5 are the nearest
		}
		start := int64(i) * 100
		if i >= 5 {
			start -= 10 - gap
		}
		ss = ss.add(span{start, start + 80})
	}
	if len(ss) != maxSpans || ss[4] != (span{400, 571}) {
		t.Errorf("past maxSpans: %v", ss)
	}
	for _, c := range []struct {
		t  int64
		in bool
	}{{399, false}, {400, true}, {490, true}, {570, true}, {571, false}, {-1, false}} {
		if _, in := ss.find(c.t); in != c.in {
			t.Errorf("find(%d) = %v in %v", c.t, in, ss)
		}
	}
}

// TestFinalizedStopsAtQueued: a reading Emit accepted that is still on its
// way to the store (the writer is behind) was not seen by a reply's read,
// so the reply must not call its time final; once stored it is served.
func TestFinalizedStopsAtQueued(t *testing.T) {
	var clock atomic.Int64
	clock.Store(sec(t0 + 100))
	noRouter := func(context.Context) (*client.Client, error) { return nil, errors.New("no router in this test") }
	n, err := New(Config{Name: "n1", Clock: func() time.Time { return time.Unix(0, clock.Load()) }}, noRouter, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A writer that has not taken the batch yet: it waits in the queue.
	n.writes, n.emitWait = make(chan write, 4), time.Millisecond
	n.writing.Store(true)
	s := n.Sink()
	s.Declare(driver.Field{Name: "a"})
	ctx := context.Background()
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 90), Value: 41.0})
	n.write(ctx, <-n.writes)                                              // stored
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 85), Value: 42.0}) // late, queued

	get := func() *protocol.DataResult { return getA(t, n) }
	r := get()
	if fin := *r.Timeline["a"].FinalizedUntil; r.Data["a"].Len() == 1 && fin > t0+85 {
		t.Fatalf("reply without the queued reading at %d says final until %v", t0+85, fin)
	}
	n.write(ctx, <-n.writes) // the writer catches up
	r = get()
	if r.Data["a"].Len() != 2 || r.Data["a"].Nums[0] != 42 {
		t.Fatalf("after the write: %+v; want the queued reading stored, not refused", r.Data)
	}
	if fin := *r.Timeline["a"].FinalizedUntil; fin != t0+99 {
		t.Errorf("finalized_until %v once nothing is queued, want %d", fin, t0+99)
	}
}

// TestFinalizedDuringBackfill: a driver writing history at start (sim's or
// the file driver's backfill) is behind the present; a reply meanwhile
// must not make the node refuse the rest of that history: readings newer
// than all the field had are taken (none lost), re-emitted ones are not.
func TestFinalizedDuringBackfill(t *testing.T) {
	var clock atomic.Int64
	clock.Store(sec(t0 + 100))
	n := movingClockNode(t, &clock, nil)
	s := n.Sink()
	s.Declare(driver.Field{Name: "a"})
	get := func() *protocol.DataResult { return getA(t, n) }
	get() // before the driver's first batch
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 10), Value: 1.0})
	get() // after it
	before := n.Stats().SinkErrors
	for i := 20; i <= 90; i += 10 { // the rest of the backfill
		s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + float64(i)), Value: float64(i)})
	}
	if got := n.Stats().SinkErrors - before; got != 0 {
		t.Errorf("%d backfilled readings refused, want 0", got)
	}
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 10), Value: 99.0}) // re-emitted inside the span
	if got := n.Stats().SinkErrors - before; got != 1 {
		t.Errorf("re-emitted reading: %d refused, want 1", got)
	}
	if r := get(); r.Data["a"].Len() != 9 {
		t.Errorf("%d readings after the backfill, want 9", r.Data["a"].Len())
	}
}

// getA is n's get_data reply for field a over [t0, t0+100).
func getA(t *testing.T, n *Node) *protocol.DataResult {
	t.Helper()
	res, err := n.getData(context.Background(), wamp.List{wamp.List{"a"}, t0, t0 + 100}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := protocol.DecodeDataResult(res[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}
