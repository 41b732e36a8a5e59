package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// testdata/v1.db was written by the schema 1 store (one row per reading,
// minute and hour rollup tables), with FlushRows 1<<20, FlushInterval 1h
// and Retention{Raw: 30h}, by:
//
//	Append(v1Readings()); Flush
//	Append(a at T0+35h+5s = 99.5, a at T0+35h = -1.25 (replacing)); Flush
//	PutFields(a: "air", degC, number, timeline tl, interval 30s)
//	Prune(now = T0+36h)   // readings before T0+6h go, their rollups stay
//	Close; then VACUUM
//
// v1Readings rebuilds what it was given, so the test knows every reading
// the old store was handed.
func v1Readings() []protocol.Reading {
	t0 := storetest.T0
	var rs []protocol.Reading
	for k := int64(0); k < 36*120; k++ { // 36 h at 30 s
		t := t0 + k*30e9
		rs = append(rs, protocol.Reading{Field: "a", Time: t, Value: math.Round((20+5*math.Sin(float64(k)/500))*1000) / 1000})
		if k%120 == 0 {
			rs = append(rs, protocol.Reading{Field: "s", Time: t, Value: fmt.Sprintf("state-%d", k/120%3)})
			rs = append(rs, protocol.Reading{Field: "b", Time: t + 1, Value: k/120%2 == 0})
		}
	}
	return append(rs, protocol.Reading{Field: "a", Time: t0 + 35*3600e9 + 5e9, Value: 99.5}, protocol.Reading{Field: "a", Time: t0 + 35*3600e9, Value: -1.25})
}

// waitMigrated waits for the end of s's migration, if it has one.
func waitMigrated(s *Store) {
	if s.mig != nil {
		<-s.mig.done
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFromSchema1 opens a database written by the schema 1 store
// and checks that every reading it still had and every bucket its
// rollups could answer come back the same, with progress in the log.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "v1.db")
	copyFile(t, "testdata/v1.db", p)
	var logs bytes.Buffer
	s, err := Open(p, Options{Now: func() time.Time { return time.Unix(0, storetest.S(36*3600)) }},
		slog.New(slog.NewTextHandler(io.MultiWriter(&logs), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-s.mig.done
	for _, want := range []string{fmt.Sprintf("migrating store to schema %d", SchemaVersion), "field=a", "done=\"3/3 fields",
		fmt.Sprintf("migrated store to schema %d", SchemaVersion)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	var version, old int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion {
		t.Errorf("user_version %d, %v", version, err)
	}
	if err := s.db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name IN ('readings', 'rollup_minute', 'rollup_hour')").Scan(&old); err != nil || old != 0 {
		t.Errorf("%d old tables left, %v", old, err)
	}

	// The reference: every reading the old store was given, less those
	// its raw retention removed.
	all := memstore.New()
	if err := all.Append(ctx, storetest.Columns(t, v1Readings()...)); err != nil {
		t.Fatal(err)
	}
	cut := storetest.S(6 * 3600)
	var kept []protocol.Reading
	for _, r := range v1Readings() {
		if r.Time >= cut {
			kept = append(kept, r)
		}
	}
	raw := memstore.New()
	if err := raw.Append(ctx, storetest.Columns(t, kept...)); err != nil {
		t.Fatal(err)
	}
	fields := []string{"a", "b", "s"}
	end := storetest.S(36 * 3600)
	q := store.Query{Fields: fields, Start: storetest.T0, End: end}
	want, _ := raw.Query(ctx, q)
	got, err := s.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, want, got)

	// Minute and coarser buckets over the whole range, including the
	// hours whose readings were pruned before the migration.
	for _, w := range []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour} {
		for _, agg := range []string{protocol.AggMean, protocol.AggMinMax, protocol.AggLast} {
			q := store.Query{Fields: fields, Start: storetest.T0, End: end, Bucket: int64(w), Agg: agg}
			want, _ := all.Query(ctx, q)
			got, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			storetest.Equal(t, want, got)
		}
	}
	fs, err := s.Fields(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f := fs[0]; len(fs) != 3 || f.Name != "a" || f.Description != "air" || f.Units != "degC" || f.Interval != 30e9 || f.First != storetest.T0 {
		t.Errorf("fields after migration: %+v", fs)
	}
	// And the migrated store takes new readings as any other.
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "a", Time: end, Value: 1.5})); err != nil {
		t.Fatal(err)
	}
	got, err = s.Query(ctx, store.Query{Fields: []string{"a"}, Start: end - 60e9, End: end + 1})
	if err != nil || len(got) != 1 || got[0].Len() != 3 || got[0].Values.Nums[2] != 1.5 {
		t.Errorf("after migration, append: %v, %v", got, err)
	}
}

// writeSchema1 writes a database of the schema 1 store at path: fields
// f1, f2, … (series ids 1, 2, …) of n number readings each, every step
// from storetest.T0, value legacyNum(id, i); and returns those readings.
func writeSchema1(t testing.TB, path string, fields, n int, step time.Duration) []protocol.Reading {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE series (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
			units TEXT NOT NULL DEFAULT '', type TEXT NOT NULL DEFAULT '', timeline TEXT NOT NULL DEFAULT '',
			interval INTEGER NOT NULL DEFAULT 0, value_type TEXT NOT NULL DEFAULT '', first_ts INTEGER, last_ts INTEGER)`,
		`CREATE TABLE readings (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value, PRIMARY KEY (series_id, ts)) WITHOUT ROWID`,
		`CREATE TABLE rollup_hour (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, cell BLOB NOT NULL, PRIMARY KEY (series_id, bucket)) WITHOUT ROWID`,
		`CREATE TABLE rollup_minute (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, cell BLOB NOT NULL, PRIMARY KEY (series_id, bucket)) WITHOUT ROWID`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var rs []protocol.Reading
	for id := 1; id <= fields; id++ {
		name := fmt.Sprintf("f%d", id)
		if _, err := db.Exec("INSERT INTO series (id, name, value_type, first_ts, last_ts) VALUES (?, ?, 'number', ?, ?)",
			id, name, storetest.T0, storetest.T0+int64(n-1)*int64(step)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO readings (series_id, ts, value)
			WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ? - 1)
			SELECT ?, ? + i * ?, (i % 1000) * 0.25 + ? FROM k`, n, id, storetest.T0, int64(step), float64(id)); err != nil {
			t.Fatal(err)
		}
		if fields*n <= 1<<20 {
			for i := range n {
				rs = append(rs, protocol.Reading{Field: name, Time: storetest.T0 + int64(i)*int64(step), Value: legacyNum(id, i)})
			}
		}
	}
	return rs
}

// legacyNum is the value writeSchema1 gives reading i of series id.
func legacyNum(id, i int) float64 { return float64(i%1000)*0.25 + float64(id) }

// gate holds a migration at the first hook call at accepts, until
// release is closed or the store closes; reached gets the field.
type gate struct {
	at      func(field string, readings int64) bool
	reached chan string
	release chan struct{}
	once    sync.Once
}

func newGate(at func(field string, readings int64) bool) *gate {
	return &gate{at: at, reached: make(chan string, 1), release: make(chan struct{})}
}

func (g *gate) hook(ctx context.Context, field string, readings int64) {
	if !g.at(field, readings) {
		return
	}
	fired := false
	g.once.Do(func() { fired = true })
	if !fired {
		return
	}
	g.reached <- field
	select {
	case <-g.release:
	case <-ctx.Done():
	}
}

// reference returns a memstore holding rs, for the answers a store
// given rs must give.
func reference(t testing.TB, rs []protocol.Reading) *memstore.Store {
	t.Helper()
	ref := memstore.New()
	if err := ref.Append(context.Background(), storetest.Columns(t, rs...)); err != nil {
		t.Fatal(err)
	}
	return ref
}

// sameAnswer checks that s answers q as ref does.
func sameAnswer(t testing.TB, ref, s store.Store, q store.Query) {
	t.Helper()
	want, err := ref.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	storetest.Equal(t, want, got)
}

// wantUnconverted checks that a query of fields fails with an
// Unavailable error that names field and says msg.
func wantUnconverted(t testing.TB, s *Store, fields []string, field, msg string) {
	t.Helper()
	got, err := s.Query(context.Background(), store.Query{Fields: fields, Start: storetest.T0, End: storetest.S(1e6)})
	if !protocol.IsKind(err, protocol.Unavailable) || !strings.Contains(err.Error(), "field "+field+" not converted yet") || !strings.Contains(err.Error(), msg) {
		t.Errorf("query of %v during the migration = %d series, %v; want unavailable naming %s and %q", fields, len(got), err, field, msg)
	}
}

// TestMigrateInBackground opens a schema 1 database: Open returns with
// the migration under way; held before its third field, converted fields
// answer exactly, the others fail as unavailable, Fields lists them all,
// and appended readings (some at times of old rows) are taken; then,
// while it runs on, readings are appended and queries made concurrently.
// Afterwards every old and every appended reading is there.
func TestMigrateInBackground(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "v1.db")
	const n = 20000
	rs := writeSchema1(t, p, 4, n, time.Second)
	g := newGate(func(f string, k int64) bool { return f == "f3" })
	var logs testutil.SyncBuffer
	s, err := Open(p, Options{migrateHook: g.hook}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f := <-g.reached; f != "f3" {
		t.Fatalf("held at %s", f)
	}
	if m := s.Migration(); !m.Active || m.Fields != 4 || m.FieldsDone != 2 || m.Readings != 4*n || m.ReadingsDone != 2*n || m.Progress() != 0.5 {
		t.Errorf("Migration() = %+v", m)
	}
	for _, r := range [][2]int64{{0, 0}, {storetest.S(100), storetest.S(200)}} {
		fs, err := s.Fields(ctx, r[0], r[1])
		if err != nil || len(fs) != 4 {
			t.Fatalf("Fields(%v) during the migration = %+v, %v", r, fs, err)
		}
		for i, f := range fs {
			if f.Name != fmt.Sprintf("f%d", i+1) || f.First != storetest.T0 || f.Last < storetest.S(n-1) || f.Type != protocol.TypeNumber {
				t.Errorf("Fields(%v)[%d] = %+v", r, i, f)
			}
		}
	}
	// Appended: one at a time each field has (replacing it), one after.
	var added []protocol.Reading
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("f%d", i)
		added = append(added, protocol.Reading{Field: name, Time: storetest.S(100), Value: -1.0},
			protocol.Reading{Field: name, Time: storetest.S(n + 5), Value: 7.0})
	}
	if err := s.Append(ctx, storetest.Columns(t, added...)); err != nil {
		t.Fatal(err)
	}
	ref := reference(t, append(slices.Clone(rs), added...))
	all := store.Query{Start: storetest.T0, End: storetest.S(1e6)}
	for _, f := range []string{"f1", "f2"} {
		q := all
		q.Fields = []string{f}
		sameAnswer(t, ref, s, q)
		q.Bucket, q.Agg = int64(time.Minute), protocol.AggMinMax
		sameAnswer(t, ref, s, q)
	}
	wantUnconverted(t, s, []string{"f3"}, "f3", "(2 of 4 fields, 50%)")
	wantUnconverted(t, s, []string{"f1", "f4"}, "f4", "(2 of 4 fields, 50%)")

	// On with the migration, appending and querying meanwhile.
	close(g.release)
	var mu sync.Mutex
	// The appender writes one batch per round of queries.
	tick, stop := make(chan struct{}, 1), make(chan struct{})
	appended := make(chan error, 1)
	go func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				appended <- nil
				return
			case <-tick:
			}
			var batch []protocol.Reading
			for i := 1; i <= 4; i++ {
				batch = append(batch, protocol.Reading{Field: fmt.Sprintf("f%d", i), Time: storetest.S(float64(2*n + k)), Value: float64(k)})
			}
			if k%50 == 0 {
				// And over old rows.
				batch = append(batch, protocol.Reading{Field: fmt.Sprintf("f%d", 1+k/50%4), Time: storetest.S(float64(1000 + k)), Value: -float64(k)})
			}
			if err := s.Append(ctx, storetest.Columns(t, batch...)); err != nil {
				appended <- err
				return
			}
			mu.Lock()
			added = append(added, batch...)
			mu.Unlock()
		}
	}()
	old := store.Query{Start: storetest.T0, End: storetest.S(1000)} // no reading appended meanwhile
	answered := map[string]int{}
	for migrating := true; migrating; {
		select {
		case <-s.mig.done:
			migrating = false
		default:
		}
		select {
		case tick <- struct{}{}:
		default:
		}
		for i := 1; i <= 4; i++ {
			q := old
			q.Fields = []string{fmt.Sprintf("f%d", i)}
			want, _ := ref.Query(ctx, q)
			got, err := s.Query(ctx, q)
			switch {
			case err == nil:
				storetest.Equal(t, want, got)
				answered[q.Fields[0]]++
			case !protocol.IsKind(err, protocol.Unavailable) || !strings.Contains(err.Error(), "not converted yet"):
				t.Fatalf("query of %s during the migration: %v", q.Fields[0], err)
			}
		}
	}
	close(stop)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if len(answered) != 4 {
		t.Errorf("fields answered during and after the migration: %v", answered)
	}
	ref = reference(t, append(slices.Clone(rs), added...))
	for i := 1; i <= 4; i++ {
		q := all
		q.Fields = []string{fmt.Sprintf("f%d", i)}
		sameAnswer(t, ref, s, q)
		q.Bucket, q.Agg = int64(time.Hour), protocol.AggMean
		sameAnswer(t, ref, s, q)
	}
	if m := s.Migration(); m.Active || m.Progress() != 1 {
		t.Errorf("Migration() after = %+v", m)
	}
	for _, want := range []string{"in the background", "field=f3", "readings appended meanwhile merged", "migrated store to schema"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestMigrateCloseResumes closes the store in the middle of a field's
// conversion: Close returns cleanly, the field keeps its old rows, and
// the next open finishes the migration with every reading, those
// appended meanwhile too.
func TestMigrateCloseResumes(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "v1.db")
	const n = 3 * SealReadings
	rs := writeSchema1(t, p, 3, n, time.Second)
	g := newGate(func(f string, k int64) bool { return f == "f2" && k > 0 })
	var logs testutil.SyncBuffer
	s, err := Open(p, Options{migrateHook: g.hook}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	<-g.reached
	if m := s.Migration(); m.FieldsDone != 1 || m.ReadingsDone <= n || m.ReadingsDone >= 2*n {
		t.Errorf("Migration() in the middle of f2 = %+v", m)
	}
	added := []protocol.Reading{{Field: "f2", Time: storetest.S(50), Value: -2.0}, {Field: "f2", Time: storetest.S(n + 10), Value: 3.0},
		{Field: "f3", Time: storetest.S(7), Value: -3.0}, {Field: "f1", Time: storetest.S(8), Value: -4.0}}
	if err := s.Append(ctx, storetest.Columns(t, added...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "stopped by close") {
		t.Errorf("log lacks the stop:\n%s", logs.String())
	}
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range []int{0, n, n} {
		var k int
		if err := db.QueryRow("SELECT count(*) FROM readings WHERE series_id = ?", id+1).Scan(&k); err != nil || k != want {
			t.Errorf("f%d has %d old rows after the close (%v), want %d", id+1, k, err, want)
		}
	}
	db.Close()

	s, err = Open(p, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-s.mig.done
	ref := reference(t, append(rs, added...))
	for _, f := range []string{"f1", "f2", "f3"} {
		sameAnswer(t, ref, s, store.Query{Fields: []string{f}, Start: storetest.T0, End: storetest.S(1e6)})
		sameAnswer(t, ref, s, store.Query{Fields: []string{f}, Start: storetest.T0, End: storetest.S(1e6), Bucket: int64(10 * time.Minute), Agg: protocol.AggMinMax})
	}
}

// TestMigrateFieldFails: a field whose old rows cannot be converted (a
// malformed rollup cell) is reported in Migration and the log, keeps its
// old rows and stays unavailable, never empty, while the others are
// converted; once the row is mended, the retry converts it.
func TestMigrateFieldFails(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v1.db")
	const n = 1000
	rs := writeSchema1(t, p, 3, n, time.Second)
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO rollup_minute (series_id, bucket, cell) VALUES (2, ?, x'01')", storetest.T0-3600e9); err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	s, err := Open(p, Options{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testutil.Eventually(t, 10*time.Second, "f2 reported", func() bool {
		m := s.Migration()
		return strings.Contains(m.Problem, "field f2") && m.FieldsDone == 2
	})
	if m := s.Migration(); !m.Active || !strings.Contains(m.Problem, "malformed rollup cell") {
		t.Errorf("Migration() = %+v", m)
	}
	if !strings.Contains(logs.String(), "field=f2") || !strings.Contains(logs.String(), "malformed rollup cell") {
		t.Errorf("log lacks the failing field:\n%s", logs.String())
	}
	wantUnconverted(t, s, []string{"f2"}, "f2", "(2 of 3 fields")
	ref := reference(t, rs)
	for _, f := range []string{"f1", "f3"} {
		sameAnswer(t, ref, s, store.Query{Fields: []string{f}, Start: storetest.T0, End: storetest.S(1e6)})
	}
	var k int
	if err := db.QueryRow("SELECT count(*) FROM readings WHERE series_id = 2").Scan(&k); err != nil || k != n {
		t.Errorf("f2 has %d old rows (%v), want %d", k, err, n)
	}
	if _, err := db.Exec("DELETE FROM rollup_minute WHERE series_id = 2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.mig.done:
	case <-time.After(time.Minute):
		t.Fatal("migration not retried")
	}
	if m := s.Migration(); m.Active || m.Problem != "" {
		t.Errorf("Migration() after the retry = %+v", m)
	}
	sameAnswer(t, ref, s, store.Query{Fields: []string{"f2"}, Start: storetest.T0, End: storetest.S(1e6)})
}

// TestMigrateFixtureDuring holds the migration of the schema 1 fixture
// after its first field: that field answers exactly, its buckets whose
// readings were pruned (carried-over cells) too, and the others are
// unavailable.
func TestMigrateFixtureDuring(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v1.db")
	copyFile(t, "testdata/v1.db", p)
	var first string
	g := newGate(func(f string, k int64) bool {
		if first == "" {
			first = f
		}
		return f != first
	})
	s, err := Open(p, Options{Now: func() time.Time { return time.Unix(0, storetest.S(36*3600)) }, migrateHook: g.hook}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held := <-g.reached
	ref := reference(t, v1Readings())
	end := storetest.S(36 * 3600)
	for _, w := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
		for _, agg := range []string{protocol.AggMean, protocol.AggMinMax, protocol.AggLast} {
			sameAnswer(t, ref, s, store.Query{Fields: []string{first}, Start: storetest.T0, End: end, Bucket: int64(w), Agg: agg})
		}
	}
	wantUnconverted(t, s, []string{held}, held, "(1 of 3 fields")
	close(g.release)
	<-s.mig.done
	for _, f := range []string{"a", "b", "s"} {
		sameAnswer(t, ref, s, store.Query{Fields: []string{f}, Start: storetest.T0, End: end, Bucket: int64(time.Hour), Agg: protocol.AggMinMax})
	}
}
