package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// goldenPages are the cells of the golden page file: two pages of each
// tier of a bench sensor field and of its step field, and a page of
// strings and one of bools.
func goldenPages() [][]bucketCell {
	var out [][]bucketCell
	for _, field := range []int{2, benchdata.StepField} {
		blk := &chunk.Block{}
		for s := int64(1764547200); s < 1764547200+3*86400; s++ {
			blk.Times = append(blk.Times, s*1e9)
			blk.Nums = append(blk.Nums, benchdata.Value(field, s))
		}
		var cells []bucketCell
		for i, t := range Tiers {
			cells = fold(cells, blk, t.Width, i == 0)
			for lo := 0; lo < len(cells) && lo < 2*pageCells; lo += pageCells {
				out = append(out, cells[lo:min(lo+pageCells, len(cells))])
			}
		}
	}
	strs := &chunk.Block{Times: []int64{1e18, 1e18 + 7e9, 1e18 + 61e9, 1e18 + 3600e9}, Strs: []string{"idle", "run", "", "ünï"}}
	bools := &chunk.Block{Times: []int64{1e18, 1e18 + 1, 1e18 + 11e9}, Bools: []bool{true, false, true}}
	out = append(out, fold(nil, strs, Tiers[1].Width, true), fold(nil, bools, Tiers[0].Width, true))
	return out
}

// TestGoldenPagesFormat1 decodes rollup pages as the first schema 2
// release wrote them (testdata/format1.pages: each of goldenPages as a
// uvarint length and its encodePage bytes).
func TestGoldenPagesFormat1(t *testing.T) {
	pages := goldenPages()
	recs := testutil.Records(t, filepath.Join("testdata", "format1.pages"))
	for i, rec := range recs {
		got, err := decodePage(rec)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if i >= len(pages) || !reflect.DeepEqual(got, pages[i]) {
			t.Fatalf("page %d differs", i)
		}
	}
	if len(recs) != len(pages) {
		t.Fatalf("%d golden pages, want %d", len(recs), len(pages))
	}
}

// TestPageSize: rollup pages of a bench sensor field cost about the
// entropy of their columns (format 1: 6.44 B a 10 s cell, 7.32 B a
// minute cell).
func TestPageSize(t *testing.T) {
	blk := &chunk.Block{}
	for s := int64(1764547200); s < 1764547200+86400; s++ {
		blk.Times = append(blk.Times, s*1e9)
		blk.Nums = append(blk.Nums, benchdata.Value(0, s))
	}
	var cells []bucketCell
	for i, want := range []float64{5.5, 6.5} {
		cells = fold(cells, blk, Tiers[i].Width, i == 0)
		size := 0
		for lo := 0; lo < len(cells); lo += pageCells {
			b, err := encodePage(cells[lo:min(lo+pageCells, len(cells))], chunk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			size += len(b)
		}
		if per := float64(size) / float64(len(cells)); per > want {
			t.Errorf("%s tier: %.2f B a cell, want at most %.1f", Tiers[i].Name, per, want)
		}
	}
}

// TestOpenSchema2: a database of schema 2, whose chunks and pages are of
// the first format (written here from the golden files), opens as it is,
// answers from them, takes new readings and is marked with SchemaVersion,
// so a release that knows only schema 2 refuses it.
func TestOpenSchema2(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "v2.db")
	// A clock by the golden data, so the 10 s tier's retention keeps it.
	now := Options{Now: func() time.Time { return time.Unix(1764547200+86400, 0) }}
	s, err := Open(p, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "x", Time: 1e18, Value: 1.0})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Replace x's chunk and pages by format 1 ones of the golden files:
	// a sensor day's chunk and the 10 s pages of a bench field.
	chunks, err := os.ReadFile(filepath.Join("..", "chunk", "testdata", "format1.chunks"))
	if err != nil {
		t.Fatal(err)
	}
	n, k := binary.Uvarint(chunks)
	c1 := chunks[k : k+int(n)]
	blk, err := chunk.Decode(c1)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := os.ReadFile(filepath.Join("testdata", "format1.pages"))
	if err != nil {
		t.Fatal(err)
	}
	n, k = binary.Uvarint(pages)
	p1 := pages[k : k+int(n)]
	cells, err := decodePage(p1)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	last := blk.Times[blk.Len()-1]
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM chunks", nil},
		{"DELETE FROM rollups", nil},
		{"INSERT INTO chunks (series_id, start_ts, end_ts, n, sealed, data) SELECT id, ?, ?, ?, 1, ? FROM series WHERE name = 'x'", []any{blk.Times[0], last, blk.Len(), c1}},
		{"INSERT INTO rollups (series_id, tier, page, data) SELECT id, 0, ?, ? FROM series WHERE name = 'x'", []any{pageOf(cells[0].bucket, Tiers[0]), p1}},
		{"UPDATE series SET first_ts = ?, last_ts = ? WHERE name = 'x'", []any{min(blk.Times[0], cells[0].bucket), last}},
		{"PRAGMA user_version = 2", nil},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(q.sql, err)
		}
	}
	db.Close()

	s, err = Open(p, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("user_version %d, %v", version, err)
	}
	got, err := s.Query(ctx, store.Query{Fields: []string{"x"}, Start: blk.Times[0], End: last + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Times, blk.Times) || !reflect.DeepEqual(got[0].Values.Nums, blk.Nums) {
		t.Fatalf("readings of the format 1 chunk differ")
	}
	// The 10 s buckets of the page's span come from its cells (the
	// golden page's cells start inside their page and run past it).
	scans := s.tierScans.Load()
	start := cells[0].bucket
	end := pageOf(start, Tiers[0]) + pageCells*Tiers[0].Width
	var want []bucketCell
	for _, c := range cells {
		if c.bucket < end {
			want = append(want, c)
		}
	}
	got, err = s.Query(ctx, store.Query{Fields: []string{"x"}, Start: start, End: end, Bucket: Tiers[0].Width, Agg: protocol.AggMean})
	if err != nil {
		t.Fatal(err)
	}
	if s.tierScans.Load() == scans || len(got) != 1 || got[0].Len() != len(want) {
		t.Fatalf("%d series from the format 1 page (%d page reads), want %d points", len(got), s.tierScans.Load()-scans, len(want))
	}
	for i, c := range want {
		if m := c.cell.Sum / float64(c.cell.Count); math.Abs(got[0].Values.Nums[i]-m) > 1e-9*math.Abs(m) {
			t.Fatalf("bucket %d: mean %v, want %v", i, got[0].Values.Nums[i], m)
		}
	}
	// New readings after the old chunk go to a format 2 chunk.
	if err := s.Append(ctx, storetest.Columns(t, protocol.Reading{Field: "x", Time: last + 1e9, Value: 2.5})); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var data []byte
	if err := s.db.QueryRow("SELECT data FROM chunks WHERE start_ts = ?", last+1e9).Scan(&data); err != nil || data[0] != 2 {
		t.Fatalf("new chunk: %v, version %v", err, data[:1])
	}
}

// TestPageFormsRoundTrip: pages of every kind of cell come back as they were,
// open (Fast, the quick forms) or complete.
func TestPageFormsRoundTrip(t *testing.T) {
	for _, p := range goldenPages() {
		for _, o := range []chunk.Options{{}, {Fast: true}} {
			b, err := encodePage(p, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePage(b)
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Fatalf("page of %d cells, %+v: %v", len(p), o, err)
			}
		}
	}
}

// TestNewPageSize: a new database gets PageSize, in WAL mode; an existing
// one keeps its page size.
func TestNewPageSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.db")
	s := open(t, p, Options{})
	var size int
	var mode string
	if err := s.db.QueryRow("PRAGMA page_size").Scan(&size); err != nil || size != PageSize {
		t.Errorf("page size %d, %v; want %d", size, err, PageSize)
	}
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q, %v", mode, err)
	}
	s.Close()
	old := filepath.Join(t.TempDir(), "v1.db")
	copyFile(t, "testdata/v1.db", old)
	s = open(t, old, Options{})
	defer s.Close()
	if err := s.db.QueryRow("PRAGMA page_size").Scan(&size); err != nil || size != 4096 {
		t.Errorf("existing database: page size %d, %v; want 4096", size, err)
	}
}
