package datanodes

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
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

// TestNodeServesWhileMigrating starts a node on a database of the schema 1
// store whose field s cannot be converted (its old rows cannot be
// deleted, as on a full disk): the node registers, publishes live data
// and answers the converted fields while the migration retries s; get_data
// of s fails as unavailable naming it, get_fields lists it, and health and
// metrics show the migration and its problem. Once s can be converted,
// the migration ends and the node is healthy.
func TestNodeServesWhileMigrating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n1.db")
	fixture, err := os.ReadFile("store/sqlite/testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER hold BEFORE DELETE ON readings WHEN OLD.series_id = (SELECT id FROM series WHERE name = 's')
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(path, sqlite.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the node stops (cleanups run last first).
	t.Cleanup(func() { st.Close() })
	_, url := testutil.NexusRouter(t, protocol.DefaultRealm)
	e := startNodeOn(t, url, st, func(c *Config) {
		c.Drivers = []DriverConfig{{Type: "sim", Block: []byte("interval: 10ms\nseed: 3\n")}}
	})
	live := make(chan struct{}, 100)
	if err := e.call.Subscribe(e.names.Data("n1"), func(*wamp.Event) {
		select {
		case live <- struct{}{}:
		default:
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "field s reported", func() bool {
		m := st.Migration()
		return m.FieldsDone == 2 && strings.Contains(m.Problem, "field s")
	})
	select {
	case <-live:
	case <-time.After(10 * time.Second):
		t.Fatal("no live data while the store migrates")
	}
	h := e.node.Health()
	if h.OK || !strings.Contains(h.Problem, "store migrating to schema 3: 2 of 3 fields") || !strings.Contains(h.Problem, "field s") ||
		!strings.Contains(h.Migration, "store migrating") {
		t.Errorf("health while field s fails: %+v", h)
	}
	metrics := func() string {
		rec := httptest.NewRecorder()
		e.node.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if m := metrics(); !strings.Contains(m, "telemesh_node_store_migrating 1") || !strings.Contains(m, "telemesh_node_store_migration_failing 1") ||
		strings.Contains(m, "telemesh_node_store_migration_progress 1\n") {
		t.Errorf("/metrics while migrating:\n%s", m)
	}
	t0 := float64(storetest.T0) / 1e9
	got, err := e.getData(wamp.List{[]string{"a"}, t0, t0 + 36*3600}, wamp.Dict{"max_points": 100000})
	if err != nil || len(got["data"].(map[string]any)["a"].([]any)) == 0 {
		t.Errorf("get_data of converted field a: %v, %v", got, err)
	}
	_, err = e.getData(wamp.List{[]string{"s"}, t0, t0 + 36*3600}, wamp.Dict{"max_points": 100000})
	if k := protocol.KindOf(wampx.FromCall(e.names, err)); k != protocol.Unavailable || !strings.Contains(err.Error(), "field s not converted yet") {
		t.Errorf("get_data of field s during the migration: %v (kind %s)", err, k)
	}
	res, err := e.call.Call(context.Background(), e.names.GetFields("n1"), nil, wamp.List{t0, t0 + 36*3600}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := wamp.AsList(res.Arguments[0])
	fields, _ := wamp.AsDict(pair[0])
	for _, f := range []string{"a", "b", "s"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("get_fields during the migration lacks %s: %v", f, fields)
		}
	}

	if _, err := db.Exec("DROP TRIGGER hold"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the migration done", func() bool { return !st.Migration().Active })
	if h := e.node.Health(); !h.OK || h.Migration != "" {
		t.Errorf("health after the migration: %+v", h)
	}
	if m := metrics(); !strings.Contains(m, "telemesh_node_store_migrating 0") || !strings.Contains(m, "telemesh_node_store_migration_progress 1\n") {
		t.Errorf("/metrics after the migration:\n%s", m)
	}
	got, err = e.getData(wamp.List{[]string{"s"}, t0, t0 + 36*3600}, wamp.Dict{"max_points": 100000})
	if err != nil || len(got["data"].(map[string]any)["s"].([]any)) == 0 {
		t.Errorf("get_data of s after the migration: %v, %v", got, err)
	}
}
