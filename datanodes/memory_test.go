package datanodes

import (
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/sqlite"
)

// TestMemoryMetrics checks that /metrics gives the node's resident size
// with its parts, the Go runtime's share and SQLite's C heap, each a
// plausible figure.
func TestMemoryMetrics(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "n1.db"), sqlite.Options{FlushInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := New(Config{Name: "n1", Health: HealthConfig{Watchdog: Duration(time.Hour)}}, dialer(t, "ws://127.0.0.1:1/ws"), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no %s:\n%s", series, body)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("%s: %v", series, err)
		}
		return v
	}
	if goMem, c := value("telemesh_node_go_memory_bytes"), value("telemesh_node_store_c_heap_bytes"); goMem < 1<<20 || c <= 0 {
		t.Errorf("Go memory %g, SQLite heap %g: want at least 1 MiB and more than nothing", goMem, c)
	}
	if runtime.GOOS != "linux" {
		return
	}
	rss, peak := value("process_resident_memory_bytes"), value("telemesh_node_resident_memory_peak_bytes")
	anon, file, shm := value(`telemesh_node_resident_memory_bytes{kind="anon"}`), value(`telemesh_node_resident_memory_bytes{kind="file"}`), value(`telemesh_node_resident_memory_bytes{kind="shmem"}`)
	if rss <= 0 || peak < rss || anon+file+shm != rss {
		t.Errorf("resident %g, peak %g, anon %g + file %g + shmem %g: want the parts to make the whole, the peak at least it", rss, peak, anon, file, shm)
	}
}
