package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
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

func copyFile(t *testing.T, from, to string) {
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
