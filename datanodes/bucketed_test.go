package datanodes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// countingStore is a store.Store that records the ranges its queries
// read, to show how often a get_data answer reads each bucket.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	reads []store.Query
}

func (c *countingStore) Query(ctx context.Context, q store.Query) ([]protocol.Series, error) {
	c.mu.Lock()
	c.reads = append(c.reads, q)
	c.mu.Unlock()
	return c.Store.Query(ctx, q)
}

// take returns the queries read since the last take.
func (c *countingStore) take() []store.Query {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = nil
	return r
}

// bucketedStores are the stores the bucketed tests run on, each loaded
// with fields f0..f11 over [t0, t0+1000): numbers every 1.5 s with gaps
// (empty buckets) of different lengths per field, one bool and one
// string field.
func bucketedStores(t *testing.T) map[string]store.Store {
	t.Helper()
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "n.db"), sqlite.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	stores := map[string]store.Store{"memstore": memstore.New(), "sqlite": sq}
	var metas []store.FieldMeta
	var series []protocol.Series
	for f := range 12 {
		name := fmt.Sprintf("f%d", f)
		typ := protocol.TypeNumber
		switch f {
		case 10:
			typ = protocol.TypeBool
		case 11:
			typ = protocol.TypeString
		}
		metas = append(metas, store.FieldMeta{Name: name, Type: typ, Timeline: name})
		sr := protocol.Series{Field: name}
		for i := range 667 {
			at := t0 + 1.5*float64(i)
			if gap := 40 + 10*f; int(at-t0)%200 < gap && int(at-t0)%200 >= gap-30 {
				continue // 30 s without readings
			}
			sr.Times = append(sr.Times, sec(at))
			var v protocol.Value
			switch typ {
			case protocol.TypeBool:
				v = protocol.Bool(i%3 == 0)
			case protocol.TypeString:
				v = protocol.Str(fmt.Sprint("s", i%5))
			default:
				v = protocol.Num(float64((i*7+f*13)%101) - 50)
			}
			if err := sr.Values.Append(v); err != nil {
				t.Fatal(err)
			}
		}
		series = append(series, sr)
	}
	ctx := context.Background()
	for _, st := range stores {
		if err := st.PutFields(ctx, metas); err != nil {
			t.Fatal(err)
		}
		if err := st.Append(ctx, series); err != nil {
			t.Fatal(err)
		}
		if err := st.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}

// storeNode is a node that never dials, over st, with the given reply
// limit in bytes and its clock a day after the data (so all of it is
// final).
func storeNode(t *testing.T, st store.Store, maxReply int) *Node {
	t.Helper()
	noRouter := func(context.Context) (*client.Client, error) { return nil, errors.New("no router in this test") }
	now := time.Unix(t0+86400, 0)
	n, err := New(Config{Name: "n1", MaxReplyBytes: maxReply, Clock: func() time.Time { return now }}, noRouter, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBucketedProgressiveReadsOnce: a bucketed get_data over the reply
// limit is bounded before anything is read (buckets × points per bucket ×
// fields): without receive_progress it is read once and answered when
// it fits, refused with its size when not; with it, it is answered in
// slices of whole buckets, each
// under the limit and read once, and the slices put together equal the
// answer of one query under a raised limit, for every aggregation, ranges
// not aligned to buckets, empty buckets and many fields.
func TestBucketedProgressiveReadsOnce(t *testing.T) {
	const maxReply = 4096 // 102 points
	limit := maxReply / BytesPerPoint
	all := make([]string, 12)
	for i := range all {
		all[i] = fmt.Sprintf("f%d", i)
	}
	for name, st := range bucketedStores(t) {
		cs := &countingStore{Store: st}
		small, big := storeNode(t, cs, maxReply), storeNode(t, st, 1<<30)
		for _, agg := range protocol.Aggs {
			for _, tc := range []struct {
				name       string
				fields     []string
				start, end float64
				stride     float64
				maxPoints  int
			}{
				{"12 fields, unaligned", all, t0 + 3.3, t0 + 997.1, 7, 0},
				{"one field, aligned", all[:1], t0, t0 + 1000, 2, 0},
				{"sparse field, fine stride", all[2:3], t0 + 0.25, t0 + 1000, 0.5, 0},
				{"fields twice, max_points", []string{"f1", "f3", "f1", "f10", "f11"}, t0 + 11.1, t0 + 901, 0, 300},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", name, agg, tc.name), func(t *testing.T) {
					args := wamp.List{tc.fields, tc.start, tc.end}
					kw := wamp.Dict{"min_stride": tc.stride, "agg": agg}
					if tc.maxPoints > 0 {
						kw["max_points"] = tc.maxPoints
					}
					q, err := small.parseGetData(args, kw)
					if err != nil {
						t.Fatal(err)
					}
					nf := 0
					for i, f := range tc.fields {
						if !slices.Contains(tc.fields[:i], f) {
							nf++
						}
					}
					per := int64(nf)
					if agg == protocol.AggMinMax {
						per *= 2
					}
					buckets := (downsample.Start(q.end-1, q.bucket)-downsample.Start(q.start, q.bucket))/q.bucket + 1
					bound := buckets * per
					if bound <= int64(limit) {
						t.Fatalf("bound %d fits the limit %d: not an over-limit case", bound, limit)
					}
					ctx := context.Background()

					// Without progress: one read, as a sisock-era caller
					// expects. An answer that fits (a sparse one) is
					// given; one over the limit is refused with its size.
					want := oneAnswer(t, big, args, kw)
					wantPts := 0
					for _, vs := range want.Data {
						wantPts += vs.Len()
					}
					res, err := small.getData(ctx, args, kw, nil)
					if r := cs.take(); len(r) != 1 {
						t.Errorf("without progress the store was read %d times, want once: %+v", len(r), r)
					}
					if wantPts <= limit {
						if err != nil {
							t.Fatalf("without progress, an answer of %d points under the limit %d: %v", wantPts, limit, err)
						}
						r, err := protocol.DecodeDataResult(jsonRoundTrip(t, res[0]))
						if err != nil {
							t.Fatal(err)
						}
						sameAnswer(t, r, want)
					} else {
						var pe *protocol.Error
						if !errors.As(err, &pe) || pe.Kind != protocol.TooMuchData {
							t.Fatalf("without progress: %v, want too_much_data", err)
						}
						if p, _ := wamp.AsInt64(pe.Details["points"]); p != int64(wantPts) {
							t.Errorf("details %v: want points %d", pe.Details, wantPts)
						}
						if l, _ := wamp.AsInt64(pe.Details["limit"]); int(l) != limit {
							t.Errorf("details %v: want limit %d", pe.Details, limit)
						}
					}

					// Progressive: slices of whole buckets, each read once.
					replies := 0
					got := progressiveAnswer(t, small, args, kw, func(part *protocol.DataResult) {
						pts := 0
						for _, vs := range part.Data {
							pts += vs.Len()
						}
						if pts > limit {
							t.Errorf("reply %d holds %d points, over the limit %d", replies, pts, limit)
						}
						for tl, td := range part.Timeline {
							if td.FinalizedUntil == nil {
								t.Errorf("reply %d: timeline %s has no finalized_until", replies, tl)
							}
						}
						replies++
					})
					checkReadOnce(t, cs.take(), q)
					if replies < 2 {
						t.Errorf("%d replies for up to %d points at %d a reply", replies, bound, limit)
					}
					sameAnswer(t, got, want)
				})
			}
		}
	}
}

// checkReadOnce checks that reads, the store queries of one bucketed
// answer, cover every bucket of q once: consecutive, disjoint, on bucket
// boundaries, from q.start to q.end.
func checkReadOnce(t *testing.T, reads []store.Query, q request) {
	t.Helper()
	if len(reads) == 0 {
		t.Fatal("no store reads")
	}
	at := q.start
	for i, r := range reads {
		switch {
		case r.Bucket != q.bucket:
			t.Fatalf("read %d: bucket %d, want %d", i, r.Bucket, q.bucket)
		case r.Start != at:
			t.Fatalf("read %d starts at %d, want %d (reads %+v): a bucket read twice or skipped", i, r.Start, at, reads)
		case r.End != q.end && r.End%q.bucket != 0:
			t.Fatalf("read %d ends at %d, inside a bucket of %d", i, r.End, q.bucket)
		}
		at = r.End
	}
	if at != q.end {
		t.Fatalf("reads end at %d, want %d", at, q.end)
	}
}

// TestBucketedFitsReadsOnce: a bucketed answer whose bound fits the limit
// is one store read.
func TestBucketedFitsReadsOnce(t *testing.T) {
	for name, st := range bucketedStores(t) {
		cs := &countingStore{Store: st}
		n := storeNode(t, cs, 4096)
		res, err := n.getData(context.Background(), wamp.List{[]string{"f0", "f1"}, t0, t0 + 1000}, wamp.Dict{"max_points": 50}, func(wamp.List) error {
			t.Fatal("a progressive result for an answer that fits")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := protocol.DecodeDataResult(res[0]); r.Data["f0"].Len() == 0 {
			t.Errorf("%s: no data: %v", name, res)
		}
		if r := cs.take(); len(r) != 1 {
			t.Errorf("%s: %d store reads, want 1", name, len(r))
		}
	}
}

// TestBucketedSlicesFinalized: each slice of a bucketed progressive answer
// claims finalized_until before its read and no later than its own end or
// one flush interval before now, and a claimed span then refuses readings
// while later ones are taken.
func TestBucketedSlicesFinalized(t *testing.T) {
	var clock atomic.Int64
	clock.Store(sec(t0 + 500))
	noRouter := func(context.Context) (*client.Client, error) { return nil, errors.New("no router in this test") }
	n, err := New(Config{Name: "n1", MaxReplyBytes: 4096, Clock: func() time.Time { return time.Unix(0, clock.Load()) }}, noRouter, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := n.Sink()
	s.Declare(driver.Field{Name: "a"})
	for i := range 500 {
		s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + float64(i)), Value: float64(i)})
	}
	var fins, lasts []float64
	add := func(res any) {
		r, err := protocol.DecodeDataResult(res)
		if err != nil {
			t.Fatal(err)
		}
		tl, ok := r.Timeline["a"]
		if !ok {
			return // no readings in this slice
		}
		if tl.FinalizedUntil == nil {
			t.Fatalf("reply %d without finalized_until", len(fins))
		}
		fins = append(fins, *tl.FinalizedUntil)
		last := math.Inf(-1)
		if len(tl.T) > 0 {
			last = tl.T[len(tl.T)-1]
		}
		lasts = append(lasts, last)
	}
	args, kw := wamp.List{[]string{"a"}, t0, t0 + 1000}, wamp.Dict{"min_stride": 2}
	res, err := n.getData(context.Background(), args, kw, func(l wamp.List) error { add(l[0]); return nil })
	if err != nil {
		t.Fatal(err)
	}
	add(res[0])
	if len(fins) < 3 {
		t.Fatalf("%d replies, want several", len(fins))
	}
	for i, f := range fins {
		if f > t0+499 {
			t.Errorf("reply %d finalized until %v, after now - flush interval (%d)", i, f, t0+499)
		}
		if i+1 < len(fins) && f > lasts[i]+2 {
			t.Errorf("reply %d finalized until %v, past its last bucket [%v, %v)", i, f, lasts[i], lasts[i]+2)
		}
		if i > 0 && f < fins[i-1] {
			t.Errorf("reply %d finalized until %v, before reply %d's %v", i, f, i-1, fins[i-1])
		}
	}
	if fins[len(fins)-1] != t0+499 {
		t.Errorf("last reply finalized until %v, want %d", fins[len(fins)-1], t0+499)
	}
	before := n.Stats().SinkErrors
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 100), Value: 7.0})   // claimed: refused
	s.Emit(protocol.Reading{Field: "a", Time: sec(t0 + 499.5), Value: 8.0}) // after the claims: taken
	if got := n.Stats().SinkErrors - before; got != 1 {
		t.Errorf("%d readings refused, want 1 (the one inside the finalized span)", got)
	}
}

// TestBucketedSlicesCancel: a caller gone after the first reply stops the
// reads: the answer ends with the context's error and reads no further.
func TestBucketedSlicesCancel(t *testing.T) {
	cs := &countingStore{Store: bucketedStores(t)["sqlite"]}
	n := storeNode(t, cs, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replies, before := 0, 0
	_, err := n.getData(ctx, wamp.List{[]string{"f0"}, t0, t0 + 1000}, wamp.Dict{"min_stride": 1}, func(wamp.List) error {
		replies++
		before = len(cs.take())
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after a cancel: %v, want %v", err, context.Canceled)
	}
	if after := len(cs.take()); replies != 1 || before == 0 || after != 0 {
		t.Errorf("%d replies, %d reads before the cancel and %d after; want 1, some and none", replies, before, after)
	}
}

// TestBucketedFineGrid: a bucket grid far finer than the data (a
// min_stride of 0.1 ms on readings 1.5 s apart) would take about 100,000
// bound-sized slices, nearly all empty: it is sliced by the store's count
// instead, in a few reads, and still equals one query's answer.
func TestBucketedFineGrid(t *testing.T) {
	st := bucketedStores(t)["sqlite"]
	cs := &countingStore{Store: st}
	small, big := storeNode(t, cs, 4096), storeNode(t, st, 1<<30)
	args, kw := wamp.List{[]string{"f0"}, t0, t0 + 1000}, wamp.Dict{"min_stride": 0.0001}
	got := progressiveAnswer(t, small, args, kw, func(*protocol.DataResult) {})
	if r := cs.take(); len(r) > 20 {
		t.Errorf("%d store reads, want a few", len(r))
	}
	sameAnswer(t, got, oneAnswer(t, big, args, kw))
}

// progressiveAnswer is n's get_data answer with receive_progress, every
// reply (through JSON, as a caller gets it) passed to each and all put
// together.
func progressiveAnswer(t *testing.T, n *Node, args wamp.List, kw wamp.Dict, each func(*protocol.DataResult)) *protocol.DataResult {
	t.Helper()
	var all protocol.DataResult
	add := func(res any) {
		t.Helper()
		part, err := protocol.DecodeDataResult(jsonRoundTrip(t, res))
		if err != nil {
			t.Fatal(err)
		}
		each(part)
		if err := all.Append(part); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.getData(context.Background(), args, kw, func(l wamp.List) error { add(l[0]); return nil })
	if err != nil {
		t.Fatal(err)
	}
	add(res[0])
	return &all
}

// oneAnswer is n's get_data answer in one reply.
func oneAnswer(t *testing.T, n *Node, args wamp.List, kw wamp.Dict) *protocol.DataResult {
	t.Helper()
	res, err := n.getData(context.Background(), args, kw, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := protocol.DecodeDataResult(jsonRoundTrip(t, res[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Data) == 0 {
		t.Fatal("reference answer is empty")
	}
	return r
}

// sameAnswer checks that a sliced answer equals the one-reply answer: the
// same fields, values and times (each field on its own timeline).
func sameAnswer(t *testing.T, got, want *protocol.DataResult) {
	t.Helper()
	for f, vs := range want.Data {
		if !reflect.DeepEqual(got.Data[f], vs) {
			t.Errorf("field %s sliced:\n%v\nwant (one reply):\n%v", f, got.Data[f], vs)
		}
		if !reflect.DeepEqual(got.Timeline[f].T, want.Timeline[f].T) {
			t.Errorf("timeline %s sliced:\n%v\nwant (one reply):\n%v", f, got.Timeline[f].T, want.Timeline[f].T)
		}
	}
	if len(got.Data) != len(want.Data) {
		t.Errorf("sliced answer has fields %v, want %v", slices.Sorted(maps.Keys(got.Data)), slices.Sorted(maps.Keys(want.Data)))
	}
}
