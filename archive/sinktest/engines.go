// Package sinktest holds what the archiver's sink tests share: the real
// engines (VictoriaMetrics, InfluxDB 1.x, PostgreSQL) started from their
// Debian packages on free loopback ports with temporary data directories,
// readers that fetch archived points back, and the conformance suite every
// archive.Sink passes.
package sinktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TV is one archived point as an engine returns it: time in nanoseconds
// (rounded to the engine's precision) and value.
type TV struct {
	T int64
	V float64
}

// Series maps "node/field" to its points in time order.
type Series map[string][]TV

// Engine is a real engine server the test owns; Stop and Start simulate an
// outage (same port, same data).
type Engine struct {
	// Name is victoria-metrics, influxd or postgres.
	Name string
	// URL is the HTTP base URL (VictoriaMetrics, InfluxDB) or the DSN
	// (PostgreSQL).
	URL string
	// Precision is the engine's time resolution.
	Precision time.Duration
	// Read returns every archived series.
	Read func(t testing.TB) Series

	t     testing.TB
	cmd   func() *exec.Cmd
	ready func() bool
	mu    sync.Mutex
	proc  *exec.Cmd
	done  chan struct{}
	out   *testutil.SyncBuffer
}

// Start (re)starts the engine and waits until it answers.
func (e *Engine) Start() {
	e.t.Helper()
	e.mu.Lock()
	e.proc = e.cmd()
	e.out = &testutil.SyncBuffer{}
	e.proc.Stdout, e.proc.Stderr = e.out, e.out
	if err := e.proc.Start(); err != nil {
		e.mu.Unlock()
		e.t.Fatalf("starting %s: %v", e.Name, err)
	}
	done := make(chan struct{})
	e.done = done
	p := e.proc
	go func() { p.Wait(); close(done) }()
	e.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for !e.ready() {
		select {
		case <-done:
			e.t.Fatalf("%s exited at start:\n%s", e.Name, e.out.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s not ready after 60s:\n%s", e.Name, e.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Output returns the engine's output of its current (or last) run.
func (e *Engine) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.out == nil {
		return ""
	}
	return e.out.String()
}

// Stop ends the engine (SIGTERM, then SIGKILL after 20 s).
func (e *Engine) Stop() {
	e.mu.Lock()
	p, done := e.proc, e.done
	e.proc = nil
	e.mu.Unlock()
	if p == nil {
		return
	}
	p.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.Process.Kill()
		<-done
	}
}

func httpOK(u string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

func freePort(t testing.TB) int { return testutil.FreePort(t) }

// VictoriaMetrics starts victoria-metrics single-node with deduplication
// at its millisecond resolution, so the same series and time keep one
// sample.
func VictoriaMetrics(t testing.TB) *Engine {
	bin := testutil.Need(t, "victoria-metrics")
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	e := &Engine{Name: "victoria-metrics", URL: base, Precision: time.Millisecond, t: t}
	e.cmd = func() *exec.Cmd {
		return exec.Command(bin, "-storageDataPath="+dir, fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port),
			"-retentionPeriod=100y", "-dedup.minScrapeInterval=1ms", "-search.latencyOffset=0s",
			"-search.disableCache", "-loggerLevel=WARN")
	}
	e.ready = func() bool { return httpOK(base + "/health") }
	e.Read = func(t testing.TB) Series { return readVM(t, base) }
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func readVM(t testing.TB, base string) Series {
	t.Helper()
	if !httpOK(base + "/internal/force_flush") {
		t.Fatal("victoria-metrics: force_flush failed")
	}
	q := url.Values{"match[]": {`{__name__=~".+"}`}, "start": {"0"}}
	resp, err := http.Get(base + "/api/v1/export?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := Series{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Values     []float64         `json:"values"`
			Timestamps []int64           `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("victoria-metrics export: %v", err)
		}
		k := line.Metric["node"] + "/" + line.Metric["field"]
		for i, ts := range line.Timestamps {
			out[k] = append(out[k], TV{T: ts * 1e6, V: line.Values[i]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sortSeries(out)
	return out
}

func sortSeries(s Series) {
	for _, v := range s {
		sort.Slice(v, func(i, j int) bool { return v[i].T < v[j].T })
	}
}

// InfluxDB starts influxd (1.x) with its data, meta and WAL in a
// temporary directory.
func InfluxDB(t testing.TB) *Engine {
	bin := testutil.Need(t, "influxd")
	dir := t.TempDir()
	port, rpc := freePort(t), freePort(t)
	conf := filepath.Join(dir, "influxdb.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[monitor]
  store-enabled = false
`, rpc, dir, dir, dir, port)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	e := &Engine{Name: "influxd", URL: base, Precision: time.Nanosecond, t: t}
	e.cmd = func() *exec.Cmd { return exec.Command(bin, "-config", conf) }
	e.ready = func() bool { return httpOK(base + "/ping") }
	e.Read = func(t testing.TB) Series { return readInflux(t, base, "telemesh") }
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// InfluxQuery runs an InfluxQL query and returns the decoded result.
func InfluxQuery(t testing.TB, base, db, q string) []InfluxSeries {
	t.Helper()
	v := url.Values{"db": {db}, "q": {q}, "epoch": {"ns"}}
	resp, err := http.Get(base + "/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Results []struct {
			Series []InfluxSeries `json:"series"`
			Error  string         `json:"error"`
		} `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("influx query %q: %v: %s", q, err, b)
	}
	var out []InfluxSeries
	for _, res := range r.Results {
		if res.Error != "" && res.Error != "database not found: "+db {
			t.Fatalf("influx query %q: %s", q, res.Error)
		}
		out = append(out, res.Series...)
	}
	return out
}

// InfluxSeries is one series of an InfluxQL result.
type InfluxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func readInflux(t testing.TB, base, db string) Series {
	out := Series{}
	for _, s := range InfluxQuery(t, base, db, `SELECT "value" FROM "telemesh" GROUP BY "node", "field"`) {
		k := s.Tags["node"] + "/" + s.Tags["field"]
		for _, row := range s.Values {
			tn, _ := row[0].(json.Number)
			vn, _ := row[1].(json.Number)
			ts, err := tn.Int64()
			if err != nil {
				t.Fatalf("influx time %v: %v", row[0], err)
			}
			v, _ := vn.Float64()
			out[k] = append(out[k], TV{T: ts, V: v})
		}
	}
	sortSeries(out)
	return out
}

// Postgres starts a private PostgreSQL 15 cluster (initdb in a temporary
// directory, trust authentication, loopback only). Run as root, the
// cluster belongs to the postgres user.
func Postgres(t testing.TB) *Engine {
	bindir := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(bindir, "initdb")); err != nil {
		if testutil.InCI() {
			t.Fatalf("postgresql is required in CI (.ci/run installs it): %v", err)
		}
		t.Skipf("postgresql not installed: %v", err)
	}
	dir, err := os.MkdirTemp("", "telemesh-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	as := func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bindir, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		as = func(name string, args ...string) *exec.Cmd {
			cmd := exec.Command(filepath.Join(bindir, name), args...)
			cmd.Dir = dir
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			return cmd
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := as("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	e := &Engine{Name: "postgres", URL: dsn, Precision: time.Microsecond, t: t}
	e.cmd = func() *exec.Cmd {
		return as("postgres", "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
			"-c", "fsync=off", "-c", "shared_buffers=32MB", "-c", "max_connections=50")
	}
	e.ready = func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return false
		}
		c.Close(ctx)
		return true
	}
	e.Read = func(t testing.TB) Series { return readPG(t, dsn, "telemesh_points") }
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

func readPG(t testing.TB, dsn, table string) Series {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT node, field, time, coalesce(value, 'NaN') FROM `+table+` ORDER BY node, field, time`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := Series{}
	for rows.Next() {
		var n, f string
		var ts time.Time
		var v float64
		if err := rows.Scan(&n, &f, &ts, &v); err != nil {
			t.Fatal(err)
		}
		out[n+"/"+f] = append(out[n+"/"+f], TV{T: ts.UnixNano(), V: v})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
