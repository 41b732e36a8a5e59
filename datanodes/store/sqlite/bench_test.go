package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// The benchmarks run on the bench data set (package benchdata): ten fields
// at 1 Hz for TELEMESH_BENCH_DAYS days (30 by default) ending at
// fixtureEnd, built once per run; building it is the ingest measurement.

// TestMain removes the benchmarks' shared database.
func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	if schema1Path != "" {
		os.RemoveAll(filepath.Dir(schema1Path))
	}
	os.Exit(code)
}

const day = 86400

// fixtureEnd is a whole day, so the month is [end-30d, end).
var fixtureEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixture     *Store
	fixtureErr  error
	fixtureDays int
	ingestCPU   time.Duration // CPU time of the process while building
	ingestWall  time.Duration
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchStore returns the store holding the bench data.
func benchStore(b *testing.B) *Store {
	fixtureOnce.Do(func() {
		fixtureDays = 30
		if d, err := strconv.Atoi(os.Getenv("TELEMESH_BENCH_DAYS")); err == nil && d > 0 {
			fixtureDays = d
		}
		if fixtureDir, fixtureErr = os.MkdirTemp("", "sqlite-bench"); fixtureErr != nil {
			return
		}
		fixture, fixtureErr = Open(filepath.Join(fixtureDir, "bench.db"), Options{Now: func() time.Time { return fixtureEnd }}, nil)
		if fixtureErr != nil {
			return
		}
		ctx := context.Background()
		first := fixtureEnd.Unix() - int64(fixtureDays)*day
		// Batches of 1000 instants of every field, as typed columns: the
		// shape a node's sink hands the store.
		const instants = 1000
		cpu0, t0 := cpuTime(), time.Now()
		batch := make([]protocol.Series, benchdata.Fields)
		for sec := first; sec < fixtureEnd.Unix(); sec += instants {
			for i := range batch {
				ts := make([]int64, 0, instants)
				vs := make([]float64, 0, instants)
				for k := sec; k < min(sec+instants, fixtureEnd.Unix()); k++ {
					ts = append(ts, k*1e9)
					vs = append(vs, benchdata.Value(i, k))
				}
				batch[i] = protocol.Series{Field: benchdata.Name(i), Times: ts, Values: protocol.Numbers(vs...)}
			}
			if fixtureErr = fixture.Append(ctx, batch); fixtureErr != nil {
				return
			}
		}
		if fixtureErr = fixture.Flush(ctx); fixtureErr != nil {
			return
		}
		ingestCPU, ingestWall = cpuTime()-cpu0, time.Since(t0)
		fmt.Fprintf(os.Stderr, "built %d days of %d fields at 1 Hz in %v (CPU %v)\n", fixtureDays, benchdata.Fields, ingestWall.Round(time.Millisecond), ingestCPU.Round(time.Millisecond))
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixture
}

func benchReadings() float64 { return float64(fixtureDays * day * benchdata.Fields) }

// BenchmarkIngest reports the readings per CPU second and per second of
// building the bench data set through Append and Flush (the generator's
// own cost included).
func BenchmarkIngest(b *testing.B) {
	benchStore(b)
	for b.Loop() {
	}
	b.ReportMetric(benchReadings()/ingestCPU.Seconds(), "readings/CPU-s")
	b.ReportMetric(benchReadings()/ingestWall.Seconds(), "readings/s")
}

// BenchmarkDiskBytesPerReading reports the database's size per reading,
// and per field kind the bytes of its chunks and of its rollup pages.
func BenchmarkDiskBytesPerReading(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
	}
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
	b.ReportMetric(float64(pages*size)/benchReadings(), "file-B/reading")
	perField := func(table string, ids string) float64 {
		var n int64
		if err := s.db.QueryRow("SELECT coalesce(sum(length(data)), 0) FROM " + table + " WHERE series_id IN (SELECT id FROM series WHERE name IN (" + ids + "))").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return float64(n)
	}
	sensors, step := "", fmt.Sprintf("'%s'", benchdata.Name(benchdata.StepField))
	for i := range benchdata.Fields {
		if i != benchdata.StepField {
			if sensors != "" {
				sensors += ","
			}
			sensors += fmt.Sprintf("'%s'", benchdata.Name(i))
		}
	}
	perSensor := benchReadings() * float64(benchdata.Fields-1) / benchdata.Fields
	perStep := benchReadings() / benchdata.Fields
	b.ReportMetric(perField("chunks", sensors)/perSensor, "sensor-chunk-B/reading")
	b.ReportMetric(perField("rollups", sensors)/perSensor, "sensor-rollup-B/reading")
	b.ReportMetric(perField("chunks", step)/perStep, "step-chunk-B/reading")
	b.ReportMetric(perField("rollups", step)/perStep, "step-rollup-B/reading")
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

// benchQuery runs q (its width from max_points as get_data computes it
// when maxPoints > 0) with a cancellable context, as a node's handler has.
func benchQuery(b *testing.B, fields int, span int64, maxPoints int, agg string, raw bool) {
	s := benchStore(b)
	s.noRollups = raw
	defer func() { s.noRollups = false }()
	q := store.Query{Start: fixtureEnd.UnixNano() - span*1e9, End: fixtureEnd.UnixNano(), Agg: agg}
	for i := range fields {
		q.Fields = append(q.Fields, benchdata.Name(i))
	}
	if maxPoints > 0 {
		q.Bucket = downsample.Width(q.Start, q.End, 0, int64(maxPoints), agg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	points := 0
	cpu0 := cpuTime()
	for b.Loop() {
		got, err := s.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		points = 0
		for _, g := range got {
			points += g.Len()
		}
	}
	b.ReportMetric(float64(points), "points")
	// CPU time of the process per query: on a shared machine it moves
	// less than the time does.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func BenchmarkQueryDay1000(b *testing.B) { benchQuery(b, 1, day, 1000, protocol.AggMean, false) }
func BenchmarkQueryDay1000MinMax(b *testing.B) {
	benchQuery(b, 1, day, 1000, protocol.AggMinMax, false)
}
func BenchmarkQueryDay1000FromReadings(b *testing.B) {
	benchQuery(b, 1, day, 1000, protocol.AggMean, true)
}
func BenchmarkQueryWeek10Fields1000(b *testing.B) {
	benchQuery(b, 10, 7*day, 1000, protocol.AggMean, false)
}
func BenchmarkQueryMonth1000(b *testing.B) { benchQuery(b, 1, 30*day, 1000, protocol.AggMean, false) }
func BenchmarkQueryDayRaw(b *testing.B)    { benchQuery(b, 1, day, 0, protocol.AggMean, false) }

// BenchmarkQueryDayRawWithLimit: the limit check reads the chunks' counts.
func BenchmarkQueryDayRawWithLimit(b *testing.B) {
	s := benchStore(b)
	q := store.Query{Fields: []string{"f0"}, Start: fixtureEnd.UnixNano() - day*1e9, End: fixtureEnd.UnixNano(), Limit: 100_000}
	for b.Loop() {
		if _, err := s.Query(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

// 30 days into 1000 buckets of 43.2 min: no tier divides them.
func BenchmarkQueryMonth1000Unaligned(b *testing.B) {
	s := benchStore(b)
	q := store.Query{Fields: []string{"f0"}, Start: fixtureEnd.UnixNano() - 30*day*1e9, End: fixtureEnd.UnixNano(), Bucket: int64(30 * day * time.Second / 1000)}
	for b.Loop() {
		if _, err := s.Query(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}
func columns(rs []protocol.Reading) []protocol.Series {
	cols, err := protocol.Columns(rs)
	if err != nil {
		panic(err)
	}
	return cols
}

// BenchmarkLiveFlush is the steady write path of a live node: each
// operation is one flush of a second of ten fields at 10 Hz, appended to
// their heads (sealed every 1024 readings) and folded into every tier's
// open page.
func BenchmarkLiveFlush(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "live.db"), Options{FlushInterval: time.Hour}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const fields, rate = 10, 10
	sec := fixtureEnd.Unix()
	batch := make([]protocol.Series, fields)
	flush := func() {
		for i := range batch {
			ts := make([]int64, rate)
			vs := make([]float64, rate)
			for k := range ts {
				ts[k] = sec*1e9 + int64(k)*1e9/rate
				vs[k] = benchdata.Value(i, sec*rate+int64(k))
			}
			batch[i] = protocol.Series{Field: benchdata.Name(i), Times: ts, Values: protocol.Numbers(vs...)}
		}
		sec++
		if err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for range 300 { // heads and open pages of some size
		flush()
	}
	b.ReportAllocs()
	for b.Loop() {
		flush()
	}
}
