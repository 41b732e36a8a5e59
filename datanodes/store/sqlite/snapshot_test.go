package sqlite

import (
	"context"
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
	s := open(t, filepath.Join(t.TempDir(), "x.db"), Options{FlushInterval: time.Millisecond, FlushRows: 500})
	ctx := context.Background()
	const n, sec = 30000, int64(time.Second)
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
	end := t0 + 1000*n*sec
	for i, deadline := 0, time.Now().Add(3*time.Second); i < 3000 && time.Now().Before(deadline); i++ {
		q := store.Query{Fields: []string{"f"}, Start: t0, End: end}
		if i%2 == 1 {
			q.Bucket, q.Agg = 60*sec, protocol.AggMean
		}
		res, err := s.Query(ctx, q)
		if err != nil {
			t.Fatalf("query %d during rewrites: %v", i, err)
		}
		if q.Bucket == 0 && (len(res) != 1 || res[0].Len() < n) {
			t.Fatalf("query %d: %v, want at least %d readings", i, res, n)
		}
	}
	close(stop)
	wg.Wait()
}
