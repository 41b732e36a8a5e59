package sqlite

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	schema1Once sync.Once
	schema1Path string // removed by TestMain
)

// BenchmarkMigrateSchema1 opens a copy of a schema 1 database of ten
// fields at 1 Hz for TELEMESH_MIGRATE_DAYS days (3 by default), built once
// per run, and reports the time Open takes and the time until the
// migration is done.
func BenchmarkMigrateSchema1(b *testing.B) {
	days := 3
	if v, err := strconv.Atoi(os.Getenv("TELEMESH_MIGRATE_DAYS")); err == nil && v > 0 {
		days = v
	}
	schema1Once.Do(func() {
		dir, err := os.MkdirTemp("", "telemesh-migrate-bench-")
		if err != nil {
			b.Fatal(err)
		}
		schema1Path = filepath.Join(dir, "v1.db")
		writeSchema1(b, schema1Path, 10, days*day, time.Second)
	})
	var open, total time.Duration
	for range b.N {
		b.StopTimer()
		p := filepath.Join(b.TempDir(), "v1.db")
		copyFile(b, schema1Path, p)
		b.StartTimer()
		t0 := time.Now()
		s, err := Open(p, Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		open += time.Since(t0)
		waitMigrated(s)
		total += time.Since(t0)
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "open-ms")
	b.ReportMetric(total.Seconds()/float64(b.N), "migrated-s")
	b.ReportMetric(float64(10*days*day), "readings")
}
