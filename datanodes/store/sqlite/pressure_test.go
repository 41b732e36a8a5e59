package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// errFull stands for SQLITE_FULL in tests: a commit fails as it would on
// a full disk (the e2e tests fill a real one).
var errFull = errors.New("database or disk is full")

// setFault makes every commit fail with what f returns (nil: commit).
func (s *Store) setFault(f func() error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.fault = f
}

func full() error { return errFull }

// ramp returns n readings of field, one a second from second from.
func ramp(field string, from, n int) []protocol.Series {
	sr := protocol.Series{Field: field, Values: protocol.Values{Type: protocol.TypeNumber}}
	for i := range n {
		sr.Times = append(sr.Times, storetest.S(float64(from+i)))
		sr.Values.Nums = append(sr.Values.Nums, float64(from+i))
	}
	return []protocol.Series{sr}
}

func count(t *testing.T, s *Store, field string, from, to int) int {
	t.Helper()
	got, err := s.Query(context.Background(), store.Query{Fields: []string{field}, Start: storetest.S(float64(from)), End: storetest.S(float64(to))})
	if err != nil {
		t.Fatalf("query [%d, %d): %v", from, to, err)
	}
	if len(got) == 0 {
		return 0
	}
	return got[0].Len()
}

// TestFailingStoreServesStoredData: while commits fail, stored data stays
// readable (raw, bucketed and listed), a query that reaches into the
// unwritten readings fails with Unavailable, never answers without them,
// and once commits succeed every reading is there.
func TestFailingStoreServesStoredData(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushInterval: 10 * time.Millisecond})
	defer s.Close()
	if err := s.Append(ctx, ramp("a", 0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.setFault(full)
	if err := s.Append(ctx, ramp("a", 100, 50)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); !errors.Is(err, errFull) {
		t.Fatalf("Flush = %v, want the full disk", err)
	}
	if n := count(t, s, "a", 0, 100); n != 100 {
		t.Errorf("stored readings while failing: %d, want 100", n)
	}
	b, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(60), Bucket: int64(10 * time.Second)})
	if err != nil || len(b) != 1 || b[0].Len() != 6 {
		t.Errorf("bucketed query of stored data while failing: %v, %v", b, err)
	}
	for _, q := range []store.Query{
		{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(200)},
		{Fields: []string{"a"}, Start: storetest.S(120), End: storetest.S(130)},
		{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(200), Bucket: int64(time.Minute)},
	} {
		if _, err := s.Query(ctx, q); !protocol.IsKind(err, protocol.Unavailable) || !strings.Contains(err.Error(), "50 readings") {
			t.Errorf("query %+v while failing = %v, want unavailable naming the 50 readings", q, err)
		}
	}
	fs, err := s.Fields(ctx, 0, 0)
	if err != nil || len(fs) != 1 || fs[0].Last != storetest.S(149) {
		t.Errorf("fields while failing: %+v, %v; want a's span to include the buffered readings", fs, err)
	}
	ws := s.WriteStats()
	if ws.Buffered != 50 || ws.Problem == "" || ws.FlushFailures == 0 {
		t.Errorf("write stats while failing: %+v", ws)
	}
	s.setFault(nil)
	testutil.Eventually(t, 10*time.Second, "the flusher's retry", func() bool { return s.WriteStats().Problem == "" })
	if n := count(t, s, "a", 0, 200); n != 150 {
		t.Errorf("readings after recovery: %d, want 150", n)
	}
	if ws := s.WriteStats(); ws.Buffered != 0 || ws.Dropped != 0 {
		t.Errorf("write stats after recovery: %+v", ws)
	}
}

// TestQuerySeesReadingsDuringFlush queries while slow flushes are under
// way: each query must see every reading appended before it (a flush
// once took its batch out of view until it committed).
func TestQuerySeesReadingsDuringFlush(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushInterval: time.Millisecond})
	defer s.Close()
	// Each commit takes 2 ms and the flusher runs every millisecond, so
	// most queries come while a flush is under way.
	s.setFault(func() error { time.Sleep(2 * time.Millisecond); return nil })
	var appended atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Append(ctx, ramp("a", i, 1)); err != nil {
				t.Error(err)
				return
			}
			appended.Store(int64(i + 1))
			time.Sleep(3 * time.Millisecond) // lets the flusher take the reading

		}
	}()
	// Queries from several goroutines: one may be the flush under way.
	var short atomic.Int64
	var qs sync.WaitGroup
	for range 4 {
		qs.Add(1)
		go func() {
			defer qs.Done()
			for range 250 {
				want := int(appended.Load())
				got, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(1 << 20)})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 && want > 0 || len(got) > 0 && got[0].Len() < want {
					short.Add(1)
				}
			}
		}()
	}
	qs.Wait()
	close(stop)
	wg.Wait()
	if n := short.Load(); n > 0 {
		t.Errorf("%d of 1000 queries missed readings appended before them", n)
	}
}

// TestBufferBoundSpillsAndRecovers fills the bounded buffer while commits
// fail: the readings go to spill files, memory holds at most the bound,
// and all of them are written once commits succeed.
func TestBufferBoundSpillsAndRecovers(t *testing.T) {
	ctx := context.Background()
	spill := t.TempDir()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushInterval: time.Hour, MaxBuffered: 100, SpillDir: spill})
	defer s.Close()
	s.setFault(full)
	for i := 0; i < 350; i += 50 {
		if err := s.Append(ctx, ramp("a", i, 50)); err != nil {
			t.Fatal(err)
		}
		if ws := s.WriteStats(); ws.Buffered > 100 {
			t.Fatalf("%d readings in memory, bound 100", ws.Buffered)
		}
	}
	ws := s.WriteStats()
	if ws.Buffered+ws.Spilled != 350 || ws.Spilled == 0 || ws.Dropped != 0 {
		t.Fatalf("write stats after filling: %+v", ws)
	}
	files, _ := filepath.Glob(filepath.Join(spill, "store.db.spill.*"))
	if len(files) == 0 {
		t.Fatal("no spill file")
	}
	if _, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(10)}); !protocol.IsKind(err, protocol.Unavailable) {
		t.Errorf("query of spilled readings = %v, want unavailable", err)
	}
	s.setFault(nil)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "a", 0, 1000); n != 350 {
		t.Errorf("readings after recovery: %d, want 350", n)
	}
	if files, _ := filepath.Glob(filepath.Join(spill, "store.db.spill.*")); len(files) != 0 {
		t.Errorf("spill files left after they were written: %v", files)
	}
}

// TestBufferFullDropsExactly: with the buffer full and spilling
// impossible, new readings are refused with an error naming the count,
// and counted; all the others are written once commits succeed.
func TestBufferFullDropsExactly(t *testing.T) {
	ctx := context.Background()
	spill := filepath.Join(t.TempDir(), "spill")
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushInterval: time.Hour, MaxBuffered: 100, SpillDir: spill})
	defer s.Close()
	// The spill directory turns into a file: spilling fails.
	if err := os.Remove(spill); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spill, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.setFault(full)
	refused := 0
	for i := 0; i < 300; i += 30 {
		err := s.Append(ctx, ramp("a", i, 30))
		switch {
		case err == nil:
		case protocol.IsKind(err, protocol.Unavailable) && strings.Contains(err.Error(), "30 readings dropped"):
			refused += 30
		default:
			t.Fatalf("Append: %v", err)
		}
	}
	ws := s.WriteStats()
	if refused == 0 || ws.Dropped != int64(refused) || ws.Buffered+ws.Dropped != 300 {
		t.Fatalf("refused %d; write stats %+v", refused, ws)
	}
	s.setFault(nil)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "a", 0, 1000); n != 300-refused {
		t.Errorf("readings after recovery: %d, want %d", n, 300-refused)
	}
}

// TestCloseWhileFailing: Close with commits failing keeps the buffer in a
// spill file, which the next Open writes; if spilling fails too, the log
// names exactly what is lost.
func TestCloseWhileFailing(t *testing.T) {
	ctx := context.Background()
	t.Run("spilled", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "store.db")
		s := open(t, path, Options{FlushInterval: time.Hour})
		if err := s.Append(ctx, ramp("a", 0, 10)); err != nil {
			t.Fatal(err)
		}
		s.setFault(full)
		if err := s.Append(ctx, ramp("a", 10, 25)); err != nil {
			t.Fatal(err)
		}
		err := s.Close()
		if err == nil || !strings.Contains(err.Error(), "35 readings kept in") {
			t.Fatalf("Close = %v, want the readings kept in a spill file", err)
		}
		s = open(t, path, Options{FlushInterval: time.Hour})
		defer s.Close()
		if n := count(t, s, "a", 0, 100); n != 35 {
			t.Errorf("readings after reopening: %d, want 35", n)
		}
		if files, _ := filepath.Glob(path + ".spill.*"); len(files) != 0 {
			t.Errorf("spill files left: %v", files)
		}
	})
	t.Run("lost", func(t *testing.T) {
		dir := t.TempDir()
		spill := filepath.Join(dir, "spill")
		var log testutil.SyncBuffer
		s, err := Open(filepath.Join(dir, "store.db"), Options{FlushInterval: time.Hour, SpillDir: spill}, slog.New(slog.NewTextHandler(&log, nil)))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(spill)
		os.WriteFile(spill, nil, 0o644)
		s.setFault(full)
		if err := s.Append(ctx, append(ramp("a", 0, 7), ramp("b", 3, 5)...)); err != nil {
			t.Fatal(err)
		}
		err = s.Close()
		if err == nil || !strings.Contains(err.Error(), "12 readings lost") {
			t.Fatalf("Close = %v, want 12 readings lost", err)
		}
		for _, want := range []string{"lost=12", "a: 7 from " + fmtTime(storetest.S(0)) + " to " + fmtTime(storetest.S(6)), "b: 5 from"} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log.String())
			}
		}
	})
}
