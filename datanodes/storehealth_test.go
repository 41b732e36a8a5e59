package datanodes

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/protocol"
)

// TestStoreFailureInHealth: while the store cannot write, the node is
// unhealthy and says why, and /metrics shows the buffered readings; once
// it writes again, healthy.
func TestStoreFailureInHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n1.db")
	st, err := sqlite.Open(path, sqlite.Options{FlushInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := New(Config{Name: "n1", Health: HealthConfig{Watchdog: Duration(time.Hour)}}, dialer(t, "ws://127.0.0.1:1/ws"), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another connection refuses every chunk write, as a full disk would.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON chunks BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	s := n.Sink()
	s.Declare(driver.Field{Name: "t"})
	now := time.Now().UnixNano()
	for i := range 5 {
		s.Emit(protocol.Reading{Field: "t", Time: now + int64(i), Value: 1.0})
	}
	if err := st.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with the trigger in place")
	}
	h := n.Health()
	if h.OK || !strings.Contains(h.Problem, "store cannot write") || !strings.Contains(h.Problem, "5 readings buffered") {
		t.Errorf("health while the store fails: %+v", h)
	}
	metrics := func() string {
		rec := httptest.NewRecorder()
		n.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if m := metrics(); !strings.Contains(m, "telemesh_node_store_writable 0") || !strings.Contains(m, "telemesh_node_store_buffered 5") {
		t.Errorf("/metrics while the store fails:\n%s", m)
	}
	if _, err := db.Exec("DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := n.Health(); !h.OK {
		t.Errorf("health once the store writes: %+v", h)
	}
	if m := metrics(); !strings.Contains(m, "telemesh_node_store_writable 1") || !strings.Contains(m, "telemesh_node_store_buffered 0") {
		t.Errorf("/metrics once the store writes:\n%s", m)
	}
}
