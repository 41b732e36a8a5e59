package sqlite

import (
	"context"
	"errors"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// TestQueryDuringRewrites queries while the writer seals and rewrites the
// chunks under the query (late readings replacing old ones): every query
// reads one snapshot, so none fails with a chunk it listed gone.
func TestQueryDuringRewrites(t *testing.T) {
	s, t0, stop := rewriting(t)
	ctx := context.Background()
	end := t0 + 1000*rewritten*sec
	for i, deadline := 0, time.Now().Add(3*time.Second); i < 3000 && time.Now().Before(deadline); i++ {
		q := store.Query{Fields: []string{"f"}, Start: t0, End: end}
		if i%2 == 1 {
			q.Bucket, q.Agg = 60*sec, protocol.AggMean
		}
		res, err := s.Query(ctx, q)
		if err != nil {
			t.Fatalf("query %d during rewrites: %v", i, err)
		}
		if q.Bucket == 0 && (len(res) != 1 || res[0].Len() < rewritten) {
			t.Fatalf("query %d: %v, want at least %d readings", i, res, rewritten)
		}
	}
	stop()
}

// TestScanDuringRewrites scans in small slices while the writer seals and
// rewrites the chunks being scanned: no slice fails with a chunk gone,
// and the readings come in strictly ascending time, none missing. (The
// first Scan listed a field's chunks once and failed on one rewritten.)
func TestScanDuringRewrites(t *testing.T) {
	s, t0, stop := rewriting(t)
	defer stop()
	for i, deadline := 0, time.Now().Add(3*time.Second); i < 20 && time.Now().Before(deadline); i++ {
		it := s.Scan(context.Background(), store.Query{Fields: []string{"f"}, Start: t0, End: t0 + 1000*rewritten*sec}, 700)
		n, last := 0, int64(0)
		for it.Next() {
			for _, ts := range it.At().Times {
				if n > 0 && ts <= last {
					t.Fatalf("scan %d: time %d after %d", i, ts, last)
				}
				n, last = n+1, ts
			}
			// Between two slices, rewrite the readings just read and the
			// ones about to be read.
			ts := []int64{last - 5*sec, last, last + sec, last + 700*sec}
			if err := s.Append(context.Background(), []protocol.Series{{Field: "f", Times: ts, Values: protocol.Numbers(1, 2, 3, 4)}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatalf("scan %d during rewrites: %v", i, err)
		}
		if n < rewritten {
			t.Fatalf("scan %d: %d readings, want at least %d", i, n, rewritten)
		}
	}
}

const rewritten, sec = 30000, int64(time.Second)

// rewriting returns a store holding rewritten readings of field f at 1 Hz
// from t0, whose writer meanwhile appends new readings and rewrites old
// ones, until stop.
func rewriting(t *testing.T) (*Store, int64, func()) {
	s := open(t, filepath.Join(t.TempDir(), "x.db"), Options{FlushInterval: time.Millisecond, FlushRows: 500})
	ctx := context.Background()
	const n = rewritten
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	series := func(times ...int64) []protocol.Series {
		vs := make([]float64, len(times))
		for i := range vs {
			vs[i] = float64(i)
		}
		return []protocol.Series{{Field: "f", Times: times, Values: protocol.Numbers(vs...)}}
	}
	all := make([]int64, n)
	for i := range all {
		all[i] = t0 + int64(i)*sec
	}
	if err := s.Append(ctx, series(all...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewSource(1))
		next := all[n-1]
		for {
			select {
			case <-stop:
				return
			default:
			}
			// New readings at the end (the head, sealed as it grows) and a
			// few replacing old ones (rewrites).
			ts := make([]int64, 60)
			for i := range ts {
				if i < 50 {
					next += sec
					ts[i] = next
				} else {
					ts[i] = all[r.Intn(n)]
				}
			}
			if err := s.Append(ctx, series(ts...)); err != nil {
				t.Error(err)
				return
			}
			s.Flush(ctx)
		}
	}()
	return s, t0, func() {
		close(stop)
		wg.Wait()
	}
}

// TestScanCancel: cancelling the context stops a scan at the next chunk,
// with the context's error.
func TestScanCancel(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "x.db"), Options{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	ts := make([]int64, 3*SealReadings)
	vs := make([]float64, len(ts))
	for i := range ts {
		ts[i], vs[i] = t0+int64(i)*sec, float64(i)
	}
	if err := s.Append(context.Background(), []protocol.Series{{Field: "f", Times: ts, Values: protocol.Numbers(vs...)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	it := s.Scan(ctx, store.Query{Fields: []string{"f"}, Start: t0, End: t0 + int64(len(ts))*sec}, 100)
	defer it.Close()
	if !it.Next() {
		t.Fatalf("no first slice: %v", it.Err())
	}
	cancel()
	n := 0
	for it.Next() {
		n += it.At().Len()
	}
	if !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("after cancel: err %v", it.Err())
	}
	if n >= len(ts)-100 {
		t.Fatalf("read %d more readings after cancel", n)
	}
}
