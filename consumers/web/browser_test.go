package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers/web"
	"github.com/telemesh/telemesh/datanodes"
	_ "github.com/telemesh/telemesh/datanodes/driver/sim"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// startSite runs telemesh's router with the dashboard on the same origin,
// as `telemesh router` and `up` serve it: WebSocket at /ws, the page at /.
// It keeps its address across restarts.
func startSite(t *testing.T, names protocol.Names) *routertest.Restartable {
	t.Helper()
	return routertest.NewRestartable(t, routertest.Config(names.Realm), func(srv *router.Server) {
		srv.Handle("/", web.Handler(web.Options{Realm: names.Realm, Base: names.Base, WSPath: router.DefaultWSPath}))
	})
}

// run starts a component's Run in the background and returns its stop.
func run(t *testing.T, name string, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	}
	t.Cleanup(stop)
	return stop
}

func startNode(t *testing.T, dial wampx.Dialer, name, desc, sim string) (stop func()) {
	t.Helper()
	return startNodeOn(t, memstore.New(), dial, name, desc, sim)
}

func startNodeOn(t *testing.T, st *memstore.Store, dial wampx.Dialer, name, desc, sim string) (stop func()) {
	t.Helper()
	cfg := datanodes.Config{
		Name: name, Description: desc,
		Live:    datanodes.LiveConfig{Interval: datanodes.Duration(100 * time.Millisecond)},
		Drivers: []datanodes.DriverConfig{{Type: "sim", Block: []byte(sim)}},
	}
	n, err := datanodes.New(cfg, dial, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, "node "+name, n.Run)
}

// simFields are the sim node's: the default three, temperature steady at
// 21 degC with a warning limit it always exceeds (so the page must colour
// it and shade the band) and co2 with an alarm limit it never reaches.
const simFields = `interval: 100ms
seed: 1
fields:
  - {name: temperature, description: air temperature, units: degC, base: 21, noise: 0.1, limits: {warning: {low: 15, high: 20.5}, alarm: {low: 10, high: 35}}}
  - {name: humidity, description: relative humidity, units: "%", base: 45, noise: 0.5, drift: 5, daily: -8}
  - {name: co2, description: CO2 concentration, units: ppm, base: 450, noise: 5, drift: 30, daily: 60, limits: {alarm: {high: 5000}}}
`

// loadSim configures the sim driver with 50 fields sampled at 10 Hz.
func loadSim() string {
	var b strings.Builder
	b.WriteString("interval: 100ms\nseed: 7\nfields:\n")
	for i := range 50 {
		fmt.Fprintf(&b, "  - {name: f%02d, units: V, description: load field %d, base: %d, noise: 1}\n", i, i, i*10)
	}
	return b.String()
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TELEMESH_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser runs the dashboard in headless Chromium against a real
// router, hub and simulated data nodes, driven by e2e/dashboard.mjs. The
// script asks for stack changes (kill a node, restart the router) on its
// stdout and waits for "ok" on its stdin.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test")
	}
	nodeBin, chromium, here := needBrowser(t)
	art := artifacts(t)
	t.Logf("artifacts in %s", art)

	names := protocol.DefaultNames()
	s := startSite(t, names)
	dial, err := wampx.Config{URL: s.URL(), Realm: names.Realm, Serializer: "json", Timeout: 2 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	startHub := func() (stop func()) {
		h, err := hub.New(hub.Config{Names: names, Dial: dial})
		if err != nil {
			t.Fatal(err)
		}
		return run(t, "hub", h.Run)
	}
	stopHub := startHub()
	simStore, loadStore := memstore.New(), memstore.New()
	const simDesc, loadDesc = "simulated room sensors", "50 fields at 10 Hz"
	stopSim := startNodeOn(t, simStore, dial, "sim", simDesc, simFields+"backfill: 30m\n")
	stopDoomed := startNode(t, dial, "doomed", "a node that dies during the test", "interval: 1s\nseed: 2\n")
	stopLoad := startNodeOn(t, loadStore, dial, "load", loadDesc, loadSim())

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(here, "e2e", "dashboard.mjs"))
	cmd.Env = append(os.Environ(),
		"TELEMESH_URL=http://"+s.Addr()+"/",
		"TELEMESH_CHROMIUM="+chromium,
		"TELEMESH_ARTIFACTS_DIR="+art,
		"TELEMESH_PROFILE_DIR="+t.TempDir(),
	)
	cmd.Stderr = &logWriter{t: t, prefix: "browser: "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var passed []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var msg struct {
			Need  string          `json:"need"`
			Pass  string          `json:"pass"`
			Stats json.RawMessage `json:"stats"`
			Log   string          `json:"log"`
		}
		if json.Unmarshal([]byte(line), &msg) != nil {
			t.Logf("script: %s", line)
			continue
		}
		switch {
		case msg.Need == "kill-doomed":
			stopDoomed()
			io.WriteString(stdin, "ok\n")
		case msg.Need == "restart-router":
			// Only the browser is connected when the router goes down: a
			// nexus client that loses its connection while publishing
			// trips the race detector (the end-to-end suites restart
			// routers under live nodes, as separate processes).
			stopSim()
			stopLoad()
			stopHub()
			s.Stop()
			s.Start()
			t.Logf("router restarted at %s", s.URL())
			stopHub = startHub()
			stopSim = startNodeOn(t, simStore, dial, "sim", simDesc, simFields)
			stopLoad = startNodeOn(t, loadStore, dial, "load", loadDesc, loadSim())
			io.WriteString(stdin, "ok\n")
		case msg.Pass != "":
			passed = append(passed, msg.Pass)
			t.Logf("pass: %s", msg.Pass)
		case msg.Stats != nil:
			t.Logf("load (50 fields at 10 Hz): %s", msg.Stats)
		case msg.Log != "":
			t.Logf("script: %s", msg.Log)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dashboard.mjs: %v (passed: %s)", err, strings.Join(passed, ", "))
	}
	t.Logf("screenshots: %s", art)
}

type logWriter struct {
	t      *testing.T
	prefix string
}

func (w *logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(p), nil
}

// needBrowser returns node, chromium and this folder, where the browser
// scripts and their npm packages live, skipping the test without them.
func needBrowser(t *testing.T) (nodeBin, chromium, here string) {
	t.Helper()
	nodeBin = testutil.Need(t, "node")
	chromium = testutil.Need(t, "chromium")
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	testutil.NeedNodeModule(t, here, "playwright-core")
	return nodeBin, chromium, here
}
