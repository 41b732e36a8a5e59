package archive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/hubsource"
	_ "github.com/telemesh/telemesh/archive/sink/all"
	"github.com/telemesh/telemesh/archive/sinktest"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/datanodes"
	_ "github.com/telemesh/telemesh/datanodes/driver/sim"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

var names = protocol.DefaultNames()

// childEnv names the archiver configuration a re-executed test binary
// runs, so that a test can SIGKILL a real archiver process.
const childEnv = "TELEMESH_ARCHIVE_TEST_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		if err := runChild(cfg, os.Getenv(childEnv+"_URL")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is `telemesh archive run` in the test binary.
func runChild(file, url string) error {
	cfg, sinks, err := archive.LoadConfig(file)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dial, err := wampx.Config{URL: url, Realm: names.Realm}.Dialer(log)
	if err != nil {
		return err
	}
	return hubsource.Run(context.Background(), cfg, sinks, dial, names, log)
}

// startRouter is telemesh's router on a fixed loopback port that a test
// can stop and start again (a router outage); its session queues hold a
// whole backfill.
func startRouter(t testing.TB) *routertest.Restartable {
	cfg := routertest.Config(names.Realm)
	cfg.OutQueueSize = 16384
	return routertest.NewRestartable(t, cfg)
}

func dialer(t testing.TB, url string) wampx.Dialer {
	d, err := wampx.Config{URL: url, Realm: names.Realm}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// serve runs fn until the test ends (or the returned stop).
func serve(t testing.TB, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fn(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func startHub(t testing.TB, url string) {
	h, err := hub.New(hub.Config{Names: names, Dial: dialer(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h.Run)
}

// simNode is a data node with a sim driver over a SQLite store in dir.
type simNode struct {
	name, dir string
	fields    int
	interval  time.Duration
	backfill  string
}

func (n simNode) fieldNames() []string {
	out := make([]string, n.fields)
	for i := range out {
		out[i] = fmt.Sprintf("f%d", i)
	}
	return out
}

func (n simNode) start(t testing.TB, url string) (stop func()) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "interval: %s\nbackfill: %q\ntimeline: sim\nfields:\n", n.interval, n.backfill)
	for i, f := range n.fieldNames() {
		fmt.Fprintf(&b, "  - {name: %s, units: K, base: %d, noise: 1, spike_prob: 0.01, spike_size: 5}\n", f, 10*i)
	}
	st, err := sqlite.Open(filepath.Join(n.dir, n.name+".sqlite"), sqlite.Options{FlushInterval: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := datanodes.Config{Name: n.name, Drivers: []datanodes.DriverConfig{{Type: "sim", Block: []byte(b.String())}}}
	cfg.Store.FlushInterval = datanodes.Duration(200 * time.Millisecond)
	node, err := datanodes.New(cfg, dialer(t, url), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopNode := serve(t, node.Run)
	return func() { stopNode(); st.Close() }
}

// deployment starts a router, a hub, the nodes and the test's own
// client, and waits until each node holds its backfilled history.
func deployment(t testing.TB, nodes ...simNode) (*routertest.Restartable, *consumers.Client, []func()) {
	t.Helper()
	rt := startRouter(t)
	startHub(t, rt.URL())
	var stops []func()
	for _, n := range nodes {
		stops = append(stops, n.start(t, rt.URL()))
	}
	cl := client(t, rt.URL())
	for _, n := range nodes {
		if d, err := time.ParseDuration(n.backfill); err == nil && d > 0 {
			waitBackfill(t, cl, n.name, int(d/n.interval)*9/10)
		}
	}
	return rt, cl, stops
}

// client is the test's own consumer, to read what nodes hold.
func client(t testing.TB, url string) *consumers.Client {
	cl := consumers.New(dialer(t, url), names, nil)
	serve(t, cl.Run)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return cl
}

// waitBackfill waits until the node holds at least n points of f0. The
// sim driver writes its history at start while the node already reports
// finalized_until as now minus one flush interval, so an archiver started
// meanwhile could be told that history is final before it is stored.
func waitBackfill(t testing.TB, cl *consumers.Client, node string, n int) {
	t.Helper()
	testutil.Eventually(t, time.Minute, node+"'s backfill", func() bool {
		r, err := cl.GetData(context.Background(), node, consumers.Query{Fields: []string{"f0"}, Start: 1, End: now()})
		return err == nil && r.Data["f0"].Len() >= n
	})
}

// nodeSeries is what node holds before end, as an engine of precision p
// would store it.
func nodeSeries(t testing.TB, cl *consumers.Client, node string, fields []string, end float64, p time.Duration) sinktest.Series {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := cl.GetData(ctx, node, consumers.Query{Fields: fields, Start: 1, End: end})
	if err != nil {
		t.Fatal(err)
	}
	out := sinktest.Series{}
	ts := r.Timeline["sim"].T
	for _, f := range fields {
		vs := r.Data[f]
		for i := range vs.Len() {
			v, _ := vs.At(i).Float()
			out[node+"/"+f] = append(out[node+"/"+f], sinktest.TV{T: protocol.ClampNanos(ts[i]) / int64(p) * int64(p), V: v})
		}
	}
	return out
}

// before keeps the points of s before end.
func before(s sinktest.Series, end float64) sinktest.Series {
	ns := protocol.ClampNanos(end)
	out := sinktest.Series{}
	for k, v := range s {
		for _, p := range v {
			if p.T < ns {
				out[k] = append(out[k], p)
			}
		}
	}
	return out
}

// only keeps the series of node.
func only(s sinktest.Series, node string) sinktest.Series {
	out := sinktest.Series{}
	for k, v := range s {
		if strings.HasPrefix(k, node+"/") {
			out[k] = v
		}
	}
	return out
}

// checkArchived waits until every sink's cursor of node passes end, then
// compares each engine with the node's own get_data before end.
func checkArchived(t testing.TB, status func() archive.Status, cl *consumers.Client, n simNode, end float64, engines map[string]*sinktest.Engine, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, fmt.Sprintf("cursors of %s past %.3f", n.name, end), func() bool {
		st := status()
		passed := 0
		for _, s := range st.Sinks {
			if engines[s.Name] == nil {
				continue
			}
			for _, ns := range s.Nodes {
				if ns.Node == n.name && ns.Cursor >= end {
					passed++
				}
			}
		}
		return passed == len(engines)
	})
	for name, e := range engines {
		want := nodeSeries(t, cl, n.name, n.fieldNames(), end, e.Precision)
		total := 0
		for _, v := range want {
			total += len(v)
		}
		// An engine may make what it acknowledged searchable a moment
		// later (VictoriaMetrics registers new series asynchronously).
		var d string
		deadline := time.Now().Add(15 * time.Second)
		for {
			d = sinktest.Diff(before(only(e.Read(t), n.name), end), want)
			if d == "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if d != "" {
			t.Errorf("%s (%s) differs from %s's get_data: %s\nsink status: %+v\nengine output: %s", name, e.Name, n.name, d, sinkOf(status(), name), e.Output())
		} else {
			t.Logf("%s (%s): %d points of %s equal its get_data", name, e.Name, total, n.name)
		}
	}
}

func sinkOf(st archive.Status, name string) archive.SinkStatus {
	for _, s := range st.Sinks {
		if s.Name == name {
			return s
		}
	}
	return archive.SinkStatus{}
}

// archiverConfig writes an archiver configuration with one sink per
// engine (influx engines under their engine's API) and returns its path.
func archiverConfig(t testing.TB, dir, listen string, engines map[string]*sinktest.Engine, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nlisten: %s\nverify_interval: 500ms\nrefresh: 2s\nbatch_size: 2000\n%s\nsinks:\n", dir, listen, extra)
	for name, e := range engines {
		switch e.Name {
		case "victoria-metrics":
			fmt.Fprintf(&b, "  - {type: influx, name: %s, api: vm, url: %q, timeout: 5s}\n", name, e.URL)
		case "influxd":
			fmt.Fprintf(&b, "  - {type: influx, name: %s, url: %q, timeout: 5s}\n", name, e.URL)
		case "postgres":
			fmt.Fprintf(&b, "  - {type: postgres, name: %s, dsn: %q}\n", name, e.URL)
		}
	}
	file := filepath.Join(dir, "archive.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// startArchiver runs an archiver in-process and returns it.
func startArchiver(t testing.TB, file, url string) (*archive.Archiver, func()) {
	t.Helper()
	cfg, sinks, err := archive.LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	cl := consumers.New(dialer(t, url), names, nil)
	stopCl := serve(t, cl.Run)
	a, err := archive.New(cfg, hubsource.Source{C: cl}, sinks, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	stopA := serve(t, a.Run)
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("archiver not ready")
	}
	return a, func() { stopA(); stopCl() }
}

// child is an archiver process (this test binary re-executed).
type child struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	addr string
}

func startChild(t testing.TB, file, url, addr string) *child {
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), out: &testutil.SyncBuffer{}, addr: addr}
	c.cmd.Env = append(os.Environ(), childEnv+"="+file, childEnv+"_URL="+url)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("archiver output:\n%s", c.out.String())
		}
	})
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

func (c *child) status() archive.Status {
	var st archive.Status
	resp, err := http.Get("http://" + c.addr + "/status")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func testLogger() *slog.Logger {
	if os.Getenv("TELEMESH_ARCHIVE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
