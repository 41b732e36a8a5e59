package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/protocol"
)

// TestMain removes the benchmarks' shared database.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

const day = 86400

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixture     *Store
	fixtureErr  error
)

// month returns a store holding 30 days of one field at 1 Hz
// (2,592,000 readings), built once per run.
func month(b *testing.B) *Store {
	fixtureOnce.Do(func() {
		if fixtureDir, fixtureErr = os.MkdirTemp("", "sqlite-bench"); fixtureErr != nil {
			return
		}
		start := time.Now()
		fixture, fixtureErr = Open(filepath.Join(fixtureDir, "month.db"), Options{FlushRows: 50000}, nil)
		if fixtureErr != nil {
			return
		}
		rs := make([]protocol.Reading, 0, 10000)
		for sec := range 30 * day {
			rs = append(rs, protocol.Reading{Field: "a", Time: storetest.S(float64(sec)), Value: float64(sec%1000) + 0.25})
			if len(rs) == cap(rs) {
				if fixtureErr = fixture.Append(context.Background(), columns(rs)); fixtureErr != nil {
					return
				}
				rs = rs[:0]
			}
		}
		if fixtureErr = fixture.Append(context.Background(), columns(rs)); fixtureErr != nil {
			return
		}
		fixtureErr = fixture.Flush(context.Background())
		fmt.Fprintf(os.Stderr, "built 30 days at 1 Hz (%d readings) in %v\n", 30*day, time.Since(start).Round(time.Millisecond))
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixture
}

// BenchmarkIngest appends batches of 1000 readings (100 instants of 10
// fields) through the flusher, as a data node does.
func BenchmarkIngest(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "ingest.db"), Options{})
	defer s.Close()
	ctx := context.Background()
	fields := make([]string, 10)
	for i := range fields {
		fields[i] = fmt.Sprintf("field%d", i)
	}
	rs := make([]protocol.Reading, 1000)
	b.ResetTimer()
	rows := 0
	for i := 0; b.Loop(); i++ {
		for j := range rs {
			sec := i*100 + j/10
			rs[j] = protocol.Reading{Field: fields[j%10], Time: storetest.S(float64(sec) / 10), Value: float64(sec%977) * 0.5}
		}
		if err := s.Append(ctx, storetest.Columns(b, rs...)); err != nil {
			b.Fatal(err)
		}
		rows += len(rs)
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(diskBytes(b, s))/float64(rows), "disk-B/row")
}

// diskBytes returns the size of the database after a checkpoint.
func diskBytes(b *testing.B, s *Store) int64 {
	if _, err := s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	var pages, size int64
	if err := s.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		b.Fatal(err)
	}
	if err := s.db.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
		b.Fatal(err)
	}
	return pages * size
}

// BenchmarkDiskBytesPerRow reports the size of the 30-day database,
// readings and rollups together, per reading.
func BenchmarkDiskBytesPerRow(b *testing.B) {
	s := month(b)
	for b.Loop() {
	}
	b.ReportMetric(float64(diskBytes(b, s))/(30*day), "disk-B/row")
}

// BenchmarkMemstoreBytesPerRow reports memstore's heap per reading.
func BenchmarkMemstoreBytesPerRow(b *testing.B) {
	const n = 1_000_000
	var perRow float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := memstore.New()
		rs := make([]protocol.Reading, 1000)
		for i := 0; i < n; i += len(rs) {
			for j := range rs {
				rs[j] = protocol.Reading{Field: "a", Time: storetest.S(float64(i + j)), Value: float64(j) + 0.5}
			}
			if err := m.Append(context.Background(), storetest.Columns(b, rs...)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perRow = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perRow, "heap-B/row")
}

func benchQuery(b *testing.B, q store.Query, raw bool) {
	s := month(b)
	s.noRollups = raw
	defer func() { s.noRollups = false }()
	ctx := context.Background()
	points := 0
	for b.Loop() {
		got, err := s.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		points = len(got[0].Times)
	}
	b.ReportMetric(float64(points), "points")
}

// The last day of the month, 86,400 readings.
var lastDay = store.Query{Fields: []string{"a"}, Start: storetest.S(29 * day), End: storetest.S(30 * day)}

func BenchmarkQueryDayRaw(b *testing.B) { benchQuery(b, lastDay, false) }

func BenchmarkQueryDayRawWithLimit(b *testing.B) {
	q := lastDay
	q.Limit = 100_000
	benchQuery(b, q, false)
}

// 1000 buckets of 86.4 s: no tier divides them, so this scans readings.
func BenchmarkQueryDay1000Buckets(b *testing.B) {
	q := lastDay
	q.Bucket, q.Agg = int64(86400*time.Millisecond), protocol.AggMinMax
	benchQuery(b, q, false)
}

// 720 buckets of 2 min, from the minute tier.
func BenchmarkQueryDay2MinBuckets(b *testing.B) {
	q := lastDay
	q.Bucket, q.Agg = int64(2*time.Minute), protocol.AggMinMax
	benchQuery(b, q, false)
}

// 30 days into 982 buckets of 44 min (the 1000-point width rounded up to
// whole minutes), through the minute tier and by scanning readings.
var month44 = store.Query{Fields: []string{"a"}, Start: storetest.S(0), End: storetest.S(30 * day), Bucket: int64(44 * time.Minute), Agg: protocol.AggMinMax}

func BenchmarkQueryMonth1000Rollup(b *testing.B) { benchQuery(b, month44, false) }
func BenchmarkQueryMonth1000Raw(b *testing.B)    { benchQuery(b, month44, true) }

// 30 days into 720 hourly buckets, from the hour tier.
func BenchmarkQueryMonthHourly(b *testing.B) {
	q := month44
	q.Bucket = int64(time.Hour)
	benchQuery(b, q, false)
}

// 30 days into 1000 buckets of 43.2 min: no tier divides them.
func BenchmarkQueryMonth1000Unaligned(b *testing.B) {
	q := month44
	q.Bucket = int64(30 * day * time.Second / 1000)
	benchQuery(b, q, false)
}

// columns converts readings the benchmarks build by hand.
func columns(rs []protocol.Reading) []protocol.Series {
	cols, err := protocol.Columns(rs)
	if err != nil {
		panic(err)
	}
	return cols
}
