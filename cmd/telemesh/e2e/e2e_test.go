// Package e2e runs telemesh end to end: the telemesh binary is built once,
// then the router, the hub and data nodes run as separate processes that
// the tests kill and restart, while an in-process consumers.Client (and a
// sisock-style Python consumer) watches what the deployment serves.
// TELEMESH_E2E_BIN=path runs them against that binary instead.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// bin is the telemesh binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipping end-to-end tests in -short mode")
		return 0
	}
	dir, err := os.MkdirTemp("", "telemesh-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Processes a test runs as another user (badstart_test.go) must reach
	// the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin = filepath.Join(dir, "telemesh")
	if b := os.Getenv("TELEMESH_E2E_BIN"); b != "" {
		// Another build (a release, or one from before a fix, to see a
		// test fail without it).
		bin = b
		return m.Run()
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/telemesh")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building telemesh: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proc is a telemesh subprocess whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
}

// start runs telemesh with args until the test ends (or stop/kill).
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startBin(t, bin, name, args...)
}

// startBin is start with another telemesh binary (a custom build).
func startBin(t *testing.T, binary, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"--log-level", "debug"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, tailLines(p.out.String(), 40))
		}
	})
	return p
}

// stop ends the process with SIGTERM, then SIGKILL if it lingers.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stack is one deployment: a router port, a profile and a scratch folder.
type stack struct {
	t       *testing.T
	addr    string
	url     string
	profile string
	names   protocol.Names
	dir     string
}

func newStack(t *testing.T, profile string) *stack {
	n, err := protocol.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return &stack{t: t, addr: addr, url: "ws://" + addr + "/ws", profile: profile, names: n, dir: t.TempDir()}
}

// router starts the router with anonymous loopback sessions as admins and
// waits until it accepts connections; extra flags come last and win.
func (s *stack) router(extra ...string) *proc {
	s.t.Helper()
	p := start(s.t, "router", append([]string{"router", "--profile", s.profile, "--anonymous-role", "admin", "--ws-listen", s.addr, "--rs-listen", ""}, extra...)...)
	testutil.Eventually(s.t, 20*time.Second, "router to listen on "+s.addr, func() bool {
		if !p.running() {
			s.t.Fatalf("router exited:\n%s", p.out.String())
		}
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

func (s *stack) hub() *proc {
	return start(s.t, "hub", "hub", "--url", s.url, "--profile", s.profile)
}

// node starts a data node with a sim driver sampling every interval.
func (s *stack) node(name string, interval time.Duration) *proc {
	s.t.Helper()
	return s.nodeWith(name, nodeOpts{interval: interval})
}

// client runs an in-process consumers.Client until the test ends.
func (s *stack) client() *consumers.Client {
	s.t.Helper()
	d, err := wampx.Config{URL: s.url, Realm: s.names.Realm}.Dialer(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	cl := consumers.New(d, s.names, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	s.t.Cleanup(func() { cancel(); <-done })
	return cl
}

// nodes returns the hub's node list keyed by name, or nil on error.
func nodes(cl *consumers.Client) map[string]protocol.NodeInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := cl.Nodes(ctx)
	if err != nil {
		return nil
	}
	m := map[string]protocol.NodeInfo{}
	for _, n := range l {
		m[n.Name] = n
	}
	return m
}

func waitNodes(t *testing.T, cl *consumers.Client, names ...string) map[string]protocol.NodeInfo {
	t.Helper()
	var got map[string]protocol.NodeInfo
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("hub to list %v", names), func() bool {
		got = nodes(cl)
		for _, n := range names {
			if _, ok := got[n]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// waitReadings waits until node has a few finalized temperature readings
// of the last minute to hand out.
func waitReadings(t *testing.T, cl *consumers.Client, node string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "readings", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := cl.GetData(ctx, node, consumers.Query{Fields: []string{"temperature"}, Start: -60, End: 0})
		return err == nil && res.Data["temperature"].Len() >= 3
	})
}

// TestKilledNodeIsDropped kills a node with SIGKILL: the hub must drop it
// and publish data_node_subtracted (the issue asks for under a second; the
// latency is logged, not asserted, to keep the test free of timing).
func TestKilledNodeIsDropped(t *testing.T) {
	s := newStack(t, "telemesh")
	s.router()
	s.hub()
	victim := s.node("victim", time.Second)
	s.node("survivor", time.Second)
	cl := s.client()
	events := make(chan protocol.NodeSummary, 16)
	stop := cl.WatchNodes(func(added bool, n protocol.NodeSummary) {
		if !added {
			events <- n
		}
	})
	defer stop()
	waitNodes(t, cl, "victim", "survivor")

	killed := time.Now()
	victim.kill()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case n := <-events:
			if n.Name != "victim" {
				t.Fatalf("unexpected data_node_subtracted for %q", n.Name)
			}
			t.Logf("data_node_subtracted for the killed node arrived %v after SIGKILL", time.Since(killed))
			got := nodes(cl)
			if _, ok := got["victim"]; ok {
				t.Error("the hub still lists the killed node")
			}
			if _, ok := got["survivor"]; !ok {
				t.Error("the hub dropped the surviving node")
			}
			return
		case <-deadline:
			t.Fatal("no data_node_subtracted after the node was killed")
		}
	}
}

// TestHubRestartKeepsNodes restarts the hub: it lists every live node again,
// bound to the same sessions, without any node restarting.
func TestHubRestartKeepsNodes(t *testing.T) {
	s := newStack(t, "telemesh")
	s.router()
	h := s.hub()
	n1, n2 := s.node("alpha", time.Second), s.node("beta", time.Second)
	cl := s.client()
	before := waitNodes(t, cl, "alpha", "beta")

	h.stop()
	testutil.Eventually(t, 10*time.Second, "the hub to be gone", func() bool { return nodes(cl) == nil })
	s.hub()
	after := waitNodes(t, cl, "alpha", "beta")
	for _, name := range []string{"alpha", "beta"} {
		if after[name].Session != before[name].Session {
			t.Errorf("%s: session %d after the hub restart, %d before: the node reconnected", name, after[name].Session, before[name].Session)
		}
	}
	if !n1.running() || !n2.running() {
		t.Error("a node exited during the hub restart")
	}
	// The nodes re-announce on hub.ready, so descriptions come back too.
	testutil.Eventually(t, 10*time.Second, "descriptions after re-announce", func() bool {
		got := nodes(cl)
		return got["alpha"].Description == "e2e node alpha" && got["beta"].Description == "e2e node beta"
	})
}

// TestRouterOutage stops the router for 10 s: nodes, hub and a
// consumers.Client reconnect by themselves and no reading taken meanwhile
// is missing from get_data afterwards.
func TestRouterOutage(t *testing.T) {
	s := newStack(t, "telemesh")
	r := s.router()
	s.hub()
	const interval = 250 * time.Millisecond
	s.node("steady", interval)
	cl := s.client()
	waitNodes(t, cl, "steady")

	live := make(chan float64, 1024)
	stopSub, err := cl.Subscribe(context.Background(), "steady", func(res *protocol.DataResult) {
		for _, tl := range res.Timeline {
			for _, ts := range tl.T {
				select {
				case live <- ts:
				default:
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopSub()

	// Let the node build up some history before the outage.
	testutil.Eventually(t, 20*time.Second, "readings from before the outage", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := cl.GetData(ctx, "steady", consumers.Query{Fields: []string{"temperature"}, Start: -10, End: 0})
		if err != nil {
			return false
		}
		ts := res.Timeline["sim"].T
		return len(ts) > 0 && ts[0] < protocol.FromTime(time.Now())-2.5
	})
	down := protocol.FromTime(time.Now())
	r.stop()
	time.Sleep(10 * time.Second) // the outage itself
	s.router()
	up := protocol.FromTime(time.Now())
	waitNodes(t, cl, "steady")
	t.Logf("the node is listed again %v after the router came back", time.Since(protocol.ToTime(up)))

	// Live readings flow again through the re-subscribed topic.
	testutil.Eventually(t, 20*time.Second, "a live reading after the outage", func() bool {
		select {
		case ts := <-live:
			return ts > up
		default:
			return false
		}
	})

	// Every sample from a little before the outage to after it is stored.
	from, to := down-2, up+1
	var ts []float64
	testutil.Eventually(t, 20*time.Second, "data after the outage to be finalized", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := cl.GetData(ctx, "steady", consumers.Query{Fields: []string{"temperature"}, Start: from, End: to})
		if err != nil {
			t.Logf("get_data: %v", err)
			return false
		}
		tl := res.Timeline["sim"]
		ts = tl.T
		return tl.FinalizedUntil != nil && *tl.FinalizedUntil >= to
	})
	if len(ts) == 0 {
		t.Fatal("no readings around the outage")
	}
	if ts[0] > from+interval.Seconds() || ts[len(ts)-1] < to-2*interval.Seconds() {
		t.Errorf("readings span [%v, %v], want [%v, %v)", ts[0], ts[len(ts)-1], from, to)
	}
	for i := 1; i < len(ts); i++ {
		if gap := ts[i] - ts[i-1]; gap > 1.5*interval.Seconds() {
			t.Errorf("readings missing between %s and %s (gap %.3fs)", protocol.ToTime(ts[i-1]), protocol.ToTime(ts[i]), gap)
		}
	}
	t.Logf("%d readings over %.1fs around a 10s router outage, none missing", len(ts), to-from)
}

// TestSisockConsumer reads a telemesh node run with the sisock profile
// from a Python consumer written like the sisock-era scripts.
func TestSisockConsumer(t *testing.T) {
	py := testutil.NeedPython(t)
	s := newStack(t, "sisock")
	s.router()
	s.hub()
	s.node("sensors", 200*time.Millisecond)
	cl := s.client()
	waitNodes(t, cl, "sensors")
	waitReadings(t, cl, "sensors")

	out, err := testutil.RunErr(60*time.Second, py, filepath.Join("testdata", "sisock_consumer.py"), s.url, s.names.Realm, s.names.Base)
	if err != nil {
		t.Fatalf("python consumer: %v\n%s", err, out)
	}
	var got struct {
		Node      string         `json:"node"`
		Fields    []string       `json:"fields"`
		Timelines []string       `json:"timelines"`
		Points    map[string]int `json:"points"`
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	found, done := false, false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "error") {
			t.Fatalf("python consumer failed: %s\n%s", line, out)
		}
		if strings.HasSuffix(line, "done") {
			done = true
		}
		if i := strings.Index(line, "{"); i >= 0 {
			if err := json.Unmarshal([]byte(line[i:]), &got); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			found = got.Node == "sensors"
		}
	}
	if !found || !done {
		t.Fatalf("python consumer did not read the node:\n%s", out)
	}
	if strings.Join(got.Fields, ",") != "co2,humidity,temperature" || len(got.Timelines) != 1 {
		t.Errorf("fields %v timelines %v", got.Fields, got.Timelines)
	}
	for f, n := range got.Points {
		if n == 0 {
			t.Errorf("field %s: no points in the last minute", f)
		}
	}
	t.Logf("python consumer read %v", got.Points)
}

// TestCommands runs the consumer commands of the binary against a live
// deployment.
func TestCommands(t *testing.T) {
	s := newStack(t, "telemesh")
	s.router()
	s.hub()
	s.node("lab", 200*time.Millisecond)
	cl := s.client()
	waitNodes(t, cl, "lab")
	waitReadings(t, cl, "lab")
	run := func(args ...string) string {
		t.Helper()
		out, err := testutil.RunErr(30*time.Second, bin, append([]string{"--log-level", "error"}, args...)...)
		if err != nil {
			t.Fatalf("telemesh %v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := run("nodes", "--url", s.url); !strings.Contains(out, "lab") || !strings.Contains(out, "e2e node lab") {
		t.Errorf("nodes:\n%s", out)
	}
	if out := run("fields", "--url", s.url, "lab"); !strings.Contains(out, "temperature") || !strings.Contains(out, "degC") {
		t.Errorf("fields:\n%s", out)
	}
	out := run("get", "--url", s.url, "--since", "1m", "--format", "csv", "lab", "temperature", "humidity")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "time,temperature,humidity" || len(lines) < 4 {
		t.Errorf("get:\n%s", out)
	}
	out = run("get", "--url", s.url, "--since", "1m", "--max-points", "2", "--agg", "minmax", "--format", "json", "lab", "temperature")
	var res protocol.DataResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Data["temperature"].Len() == 0 || res.Data["temperature"].Len() > 4 {
		t.Errorf("get json (%v):\n%s", err, out)
	}
	out, err := testutil.RunErr(30*time.Second, bin, "get", "--url", s.url, "nosuch", "temperature")
	if err == nil || !strings.Contains(out, `no data node named "nosuch"`) || !strings.Contains(out, "telemesh nodes") {
		t.Errorf("get from an unknown node: %v\n%s", err, out)
	}
}

// rolesConfig is a router file with the default roles, deny by default:
// the hub and the node authenticate with tickets, consumers are anonymous.
const rolesConfig = `listeners:
  websocket: {address: "%s", path: /ws}
realms:
  - name: telemesh
    roles:
      - name: hub
        permissions:
          - {uri: telemesh.data_node., match: prefix, allow: {register: true}, disclose: {caller: true}}
          - {uri: telemesh.consumer.get_data_node, match: exact, allow: {register: true}}
          - {uri: telemesh.consumer.list_nodes, match: exact, allow: {register: true}}
          - {uri: telemesh.consumer.data_node_, match: prefix, allow: {publish: true}}
          - {uri: telemesh.hub., match: prefix, allow: {publish: true}}
          - {uri: wamp., match: prefix, allow: {call: true, subscribe: true}}
      - name: datanode
        permissions:
          - {uri: "telemesh.consumer.{authid}.", match: prefix, allow: {register: true, publish: true}}
          - {uri: telemesh.data_node.add, match: exact, allow: {call: true}, disclose: {caller: true}}
          - {uri: telemesh.data_node.subtract, match: exact, allow: {call: true}, disclose: {caller: true}}
          - {uri: telemesh.hub.ready, match: exact, allow: {subscribe: true}}
      - name: consumer
        permissions:
          - {uri: telemesh.consumer., match: prefix, allow: {call: true, subscribe: true}}
    auth:
      anonymous: {role: consumer, loopback_only: true}
      ticket:
        principals:
          hub: {ticket: hub-ticket, role: hub}
          lab: {ticket: lab-ticket, role: datanode}
`

// TestDefaultRoles runs the hub and a node under the default roles: the
// hub's meta API use and caller disclosure work with only the permissions
// protocol.md gives it, and a restarted hub still finds the node.
func TestDefaultRoles(t *testing.T) {
	s := newStack(t, "telemesh")
	cfg := filepath.Join(s.dir, "router.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(rolesConfig, s.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "router", "router", "--config", cfg)
	testutil.Eventually(t, 20*time.Second, "router to listen", func() bool {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	hubArgs := []string{"hub", "--url", s.url, "--authid", "hub", "--authmethod", "ticket", "--secret", "hub-ticket"}
	h := start(t, "hub", hubArgs...)
	node := filepath.Join(s.dir, "lab.yaml")
	if err := os.WriteFile(node, []byte(fmt.Sprintf("name: lab\ndata_dir: %s\ndrivers:\n  - type: sim\n", filepath.Join(s.dir, "lab"))), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "node lab", "node", "--config", node, "--url", s.url, "--authid", "lab", "--authmethod", "ticket", "--secret", "lab-ticket")
	cl := s.client()
	before := waitNodes(t, cl, "lab")
	if before["lab"].Session == 0 {
		t.Errorf("listed %+v", before["lab"])
	}

	// An anonymous consumer may not announce nodes.
	d, err := wampx.Config{URL: s.url, Realm: s.names.Realm}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Call(context.Background(), s.names.DataNodeAdd(), nil, []any{"fake", "", 1}, nil, nil)
	if !protocol.IsKind(wampx.FromCall(s.names, err), protocol.NotAuthorized) {
		t.Errorf("anonymous data_node.add: %v; want not authorized", err)
	}

	h.stop()
	testutil.Eventually(t, 10*time.Second, "the hub to be gone", func() bool { return nodes(cl) == nil })
	start(t, "hub", hubArgs...)
	after := waitNodes(t, cl, "lab")
	if after["lab"].Session != before["lab"].Session {
		t.Errorf("session %d after the hub restart, %d before", after["lab"].Session, before["lab"].Session)
	}
}
