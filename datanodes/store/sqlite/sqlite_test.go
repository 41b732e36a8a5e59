package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

func open(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "store.db"), Options{})
	})
}

func TestOddPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a?b#c%d.db")
	s := open(t, p, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
}

func TestConformanceWithoutRollups(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{})
		s.noRollups = true
		return s
	})
}

func TestReopen(t *testing.T) {
	storetest.Reopen(t, func(t *testing.T, dir string) store.Store {
		return open(t, filepath.Join(dir, "store.db"), Options{})
	})
}

// TestRollupsMatchMemstore feeds the same days of readings to a sqlite
// store and to memstore and compares bucketed queries that use the rollup
// tiers with memstore's raw computation.
func TestRollupsMatchMemstore(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushRows: 20000})
	defer s.Close()
	m := memstore.New()
	rng := rand.New(rand.NewPCG(3, 4))
	var batch []protocol.Reading
	for sec := 0; sec < 2*86400; sec += 10 {
		v := float64(rng.IntN(1000))
		if rng.IntN(1000) == 0 {
			v = 1e6
		}
		batch = append(batch, protocol.Reading{Field: "a", Time: storetest.S(float64(sec)), Value: v})
		if sec%3600 == 0 {
			batch = append(batch, protocol.Reading{Field: "s", Time: storetest.S(float64(sec)), Value: fmt.Sprint(sec)})
		}
	}
	for _, st := range []store.Store{s, m} {
		if err := st.Append(ctx, storetest.Columns(t, batch...)); err != nil {
			t.Fatal(err)
		}
	}
	widths := []time.Duration{time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour,
		2592 * time.Second, 5*time.Hour + 7*time.Second, 4*time.Minute + time.Millisecond}
	for _, w := range widths {
		for _, agg := range []string{protocol.AggMean, protocol.AggMin, protocol.AggMax, protocol.AggLast, protocol.AggMinMax} {
			q := store.Query{Fields: []string{"a", "s"}, Start: storetest.S(-3600), End: storetest.S(2*86400 - 1234.5), Bucket: int64(w), Agg: agg}
			want, err := m.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			storetest.Equal(t, want, got)
		}
	}
	if n := s.tierScans.Load(); n != int64(len(widths)*5*2) {
		t.Errorf("%d rollup scans, want one per query and field", n)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, storetest.S(10*86400))
	o := Options{Retention: Retention{Raw: 24 * time.Hour, TenSeconds: 30 * time.Hour, Minute: 48 * time.Hour, TenMinutes: 72 * time.Hour, Hour: 5 * time.Hour},
		Now: func() time.Time { return time.Unix(0, storetest.T0) }}
	s := open(t, filepath.Join(t.TempDir(), "store.db"), o)
	defer s.Close()
	var rs []protocol.Reading
	for sec := 0; sec < 10*86400; sec += 60 {
		rs = append(rs, protocol.Reading{Field: "a", Time: storetest.S(float64(sec)), Value: float64(sec)})
	}
	if err := s.Append(ctx, storetest.Columns(t, rs...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	// Readings: the last 24 h exactly.
	got, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: 0, End: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Times) != 1440 || got[0].Times[0] != now.Add(-24*time.Hour).UnixNano() {
		t.Fatalf("raw kept %d readings from %v", len(got[0].Times), got[0].Times[:1])
	}
	// Each tier keeps its cells from its own horizon.
	for ti, keep := range []time.Duration{30 * time.Hour, 48 * time.Hour, 72 * time.Hour, 5 * time.Hour, 0} {
		var first int64
		var n int
		rows, err := s.db.Query("SELECT data FROM rollups WHERE series_id = 1 AND tier = ? ORDER BY page", ti)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var data []byte
			if err := rows.Scan(&data); err != nil {
				t.Fatal(err)
			}
			cells, err := decodePage(data)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				first = cells[0].bucket
			}
			n += len(cells)
		}
		rows.Close()
		want := downsample.Start(storetest.T0, Tiers[ti].Width)
		if keep > 0 {
			want = ceilTo(now.Add(-keep).UnixNano(), Tiers[ti].Width)
		}
		if first != want || s.horizons[1+ti] != map[bool]int64{true: want, false: math.MinInt64}[keep > 0] {
			t.Errorf("tier %s keeps from %v (horizon %v), want %v", Tiers[ti].Name, first-storetest.T0, s.horizons[1+ti], want-storetest.T0)
		}
	}
	fs, err := s.Fields(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].First != storetest.T0 || fs[0].Last != storetest.S(10*86400-60) {
		t.Errorf("fields after prune: %+v", fs)
	}
	// Hourly buckets over the last 3 days are complete: from the 10 min
	// tier where the hour tier is gone.
	got, err = s.Query(ctx, store.Query{Fields: []string{"a"}, Start: now.Add(-72 * time.Hour).UnixNano(), End: now.UnixNano(), Bucket: int64(time.Hour), Agg: protocol.AggMax})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Times) != 72 || got[0].Values.Nums[71] != float64(10*86400-60) || got[0].Values.Nums[0] != float64(7*86400+3540) {
		t.Errorf("hourly max after prune: %v", got)
	}
	// Daily buckets from the day tier, which keeps everything.
	got, err = s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.T0, End: now.UnixNano(), Bucket: int64(24 * time.Hour), Agg: protocol.AggMin})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Times) != 11 || got[0].Values.Nums[0] != 0 || got[0].Values.Nums[10] != 784800 {
		t.Errorf("daily min after prune: %v", got)
	}
}

// TestPruneAnswersAsItCommits queries right after Prune's commit, before
// it returns: the 10 s buckets of a range whose 10 s cells are pruned come
// from the readings, in full. (The horizons were raised only after the
// commit: a query in between read the pruned tier and answered nothing.)
func TestPruneAnswersAsItCommits(t *testing.T) {
	ctx := context.Background()
	var rs []protocol.Reading
	for sec := range 100 {
		rs = append(rs, protocol.Reading{Field: "a", Time: storetest.S(float64(sec)), Value: float64(sec)})
	}
	ref := reference(t, rs)
	q := store.Query{Fields: []string{"a"}, Start: storetest.T0, End: storetest.S(100), Bucket: int64(10 * time.Second), Agg: protocol.AggMean}
	var s *Store
	var armed atomic.Bool // set once s is, for the test's own Prune
	o := Options{Now: func() time.Time { return time.Unix(0, storetest.T0) },
		pruneHook: func() {
			if armed.Load() {
				sameAnswer(t, ref, s, q)
			}
		}}
	s = open(t, filepath.Join(t.TempDir(), "store.db"), o)
	defer s.Close()
	if err := s.Append(ctx, storetest.Columns(t, rs...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, ref, s, q)
	armed.Store(true)
	// The 10 s tier keeps 3 days by default.
	if err := s.Prune(ctx, time.Unix(0, storetest.S(4*86400))); err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, ref, s, q)
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{FlushInterval: -1}, {FlushRows: -1}, {Retention: Retention{Hour: -time.Hour}}} {
		if _, err := Open(filepath.Join(t.TempDir(), "x.db"), o, nil); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "x.db"), Options{}, nil); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestNotADatabase(t *testing.T) {
	p := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(p, Options{}, nil); err == nil {
		s.Close()
		t.Fatal("Open of a junk file succeeded")
	}
}

func TestCloseFlushesAndRejects(t *testing.T) {
	p := filepath.Join(t.TempDir(), "store.db")
	s := open(t, p, Options{FlushInterval: time.Hour})
	ctx := context.Background()
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "a", Time: 1, Value: 1.0})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "a", Time: 2, Value: 1.0})); !protocol.IsKind(err, protocol.Unavailable) {
		t.Errorf("Append after Close = %v", err)
	}
	if _, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: 0, End: 10}); !protocol.IsKind(err, protocol.Unavailable) {
		t.Errorf("Query after Close = %v", err)
	}
	s = open(t, p, Options{})
	defer s.Close()
	got, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: 0, End: 10})
	if err != nil || len(got) != 1 || len(got[0].Times) != 1 {
		t.Errorf("reading appended before Close: %v, %v", got, err)
	}
}

func TestFlusherCommitsInBackground(t *testing.T) {
	p := filepath.Join(t.TempDir(), "store.db")
	s := open(t, p, Options{FlushInterval: 10 * time.Millisecond})
	defer s.Close()
	if err := s.Append(context.Background(), storetest.Columns(t, protocol.Reading{Field: "a", Time: 1, Value: 1.0})); err != nil {
		t.Fatal(err)
	}
	// Another connection sees the reading once the flusher committed it.
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM chunks").Scan(&n); err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not commit within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const childEnv = "TELEMESH_SQLITE_KILL_CHILD"

// TestKillLosesOnlyUnflushed runs a child process that appends and flushes
// readings in a loop, reporting each flush, kills it with SIGKILL, and
// checks that every reported reading survived in an intact database.
func TestKillLosesOnlyUnflushed(t *testing.T) {
	if p := os.Getenv(childEnv); p != "" {
		killChild(p)
		return
	}
	p := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillLosesOnlyUnflushed$")
	cmd.Env = append(os.Environ(), childEnv+"="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	flushed := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "flushed "); ok {
			if flushed, err = strconv.Atoi(n); err != nil {
				t.Fatal(err)
			}
			if flushed >= 30000 {
				break
			}
		}
	}
	if flushed < 30000 {
		t.Fatalf("child stopped after %d readings: %v", flushed, sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := open(t, p, Options{})
	defer s.Close()
	var check string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	got, err := s.Query(context.Background(), store.Query{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(float64(flushed))})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Times) != flushed {
		t.Fatalf("after SIGKILL found %d of %d flushed readings", len(got[0].Times), flushed)
	}
	for i, v := range got[0].Values.Nums {
		if v != float64(i) {
			t.Fatalf("reading %d = %v", i, v)
		}
	}
	t.Logf("%d flushed readings survived SIGKILL", flushed)
}

// killChild appends and flushes until killed; the flush interval is long,
// so the readings after the last reported flush sit in memory.
func killChild(path string) {
	s, err := Open(path, Options{FlushInterval: time.Hour, FlushRows: 1 << 30}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	for n := 0; ; n += 1000 {
		rs := make([]protocol.Reading, 1000)
		for i := range rs {
			rs[i] = protocol.Reading{Field: "a", Time: storetest.S(float64(n + i)), Value: float64(n + i)}
		}
		if err := s.Append(ctx, columns(rs)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if n%2000 == 0 { // every other batch stays unflushed until the next
			continue
		}
		if err := s.Flush(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("flushed %d\n", n+1000)
	}
}

// TestFailedFlushKeepsReadings makes commits fail and checks that the
// readings stay queued, in order, for the next flush.
func TestFailedFlushKeepsReadings(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{FlushInterval: time.Hour})
	defer s.Close()
	if _, err := s.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON chunks BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	rs := []protocol.Reading{
		{Field: "b", Time: 2, Value: 1.0}, {Field: "a", Time: 1, Value: 1.0},
		{Field: "a", Time: 1, Value: 2.0}, {Field: "b", Time: 1, Value: 3.0},
	}
	if err := s.Append(ctx, storetest.Columns(t, rs...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Flush = %v, want the trigger's error", err)
	}
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "b", Time: 2, Value: 4.0})); err != nil {
		t.Fatal(err)
	}
	// While flushes fail, a query of the unwritten readings' range fails
	// (it never answers without them) until the next flush succeeds.
	if _, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: 0, End: 10}); !protocol.IsKind(err, protocol.Unavailable) {
		t.Fatalf("query while flushes fail = %v, want unavailable", err)
	}
	if _, err := s.db.Exec("DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, store.Query{Fields: []string{"a", "b"}, Start: 0, End: 10})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, []protocol.Series{
		{Field: "a", Times: []int64{1}, Values: protocol.Numbers(2.0)},
		{Field: "b", Times: []int64{1, 2}, Values: protocol.Numbers(3.0, 4.0)},
	}, got)
}

// TestQueryDuringStartupPrune: a store prunes at open (its 10 s tier has
// a retention by default) while the first queries run. A query whose
// read snapshot began after the prune's commit but which copied the
// horizons before it planned on the old ones and read the pages the prune
// had deleted: an empty answer, about one open in thirteen.
func TestQueryDuringStartupPrune(t *testing.T) {
	ctx := context.Background()
	rs := make([]protocol.Reading, 100)
	for k := range rs {
		rs[k] = protocol.Reading{Field: "x", Time: storetest.S(3 + float64(k)), Value: float64(k)}
	}
	q := store.Query{Fields: []string{"x"}, Start: storetest.S(5), End: storetest.S(95), Bucket: int64(10 * time.Second), Agg: protocol.AggMean}
	for i := range 300 {
		s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{})
		if err := s.Append(ctx, storetest.Columns(t, rs...)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Query(ctx, q)
		s.Close()
		if err != nil || len(got) != 1 || got[0].Len() != 10 {
			t.Fatalf("open %d: %v, %v; want 10 buckets of x", i, got, err)
		}
	}
}
