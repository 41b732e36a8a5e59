// Package examples_test runs the Python and JavaScript example scripts
// against a whole telemesh stack started in-process, so that the scripts
// users copy keep working.
package examples_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/telemesh/telemesh/cmd/telemesh/cli"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/tls/pki"
	"github.com/telemesh/telemesh/wampx"
)

// Credentials of the stack's WAMP-CRA users: a reader (consumer role) for
// RawSocket, where the router admits no anonymous sessions, and the
// sisock-style node (datanode role, authid = node name).
const (
	readerID     = "reader"
	readerSecret = "reader-secret"
	nodeID       = "sine"
	nodeSecret   = "sine-secret"
	scriptTime   = 60 * time.Second
)

// stack is a running `telemesh up`.
type stack struct {
	ws, tcp string // ws:// and tcp:// URLs (wss:// and tcps:// with TLS)
	caFile  string // the CA to trust, with TLS
	names   protocol.Names
	profile string
}

// startStack runs `telemesh up` with the simulated node and an hour of
// backfill on free ports, and returns once that hour is served. With
// withTLS, both listeners use a certificate from a fresh local CA.
func startStack(t *testing.T, profile string, withTLS bool) *stack {
	t.Helper()
	n, err := protocol.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := router.DefaultConfig()
	cfg.Listeners.WebSocket.Address = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg.Listeners.RawSocket.Address = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg.Realms[0].Name = n.Realm
	cfg.Realms[0].Roles = router.DefaultRoles(n)
	cfg.Realms[0].Auth.WAMPCRA = &router.WAMPCRAAuth{Users: map[string]router.CRAUser{
		readerID: {Secret: readerSecret, Role: protocol.RoleConsumer},
		nodeID:   {Secret: nodeSecret, Role: protocol.RoleDataNode},
	}}
	var ca string
	if withTLS {
		p, err := pki.Init(filepath.Join(dir, "certs"), pki.Options{CN: "localhost", SANs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		ca = p.CACert
		tc := router.TLSConfig{Cert: p.Cert, Key: p.Key}
		cfg.Listeners.WebSocket.TLS, cfg.Listeners.RawSocket.TLS = tc, tc
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	routerFile := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(routerFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// cli.Run fills in the shared flag definitions on its first call; make
	// that call here, before any concurrent one, so runs only read them.
	if err := cli.Run(context.Background(), []string{"telemesh", "version"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"telemesh", "up", "--profile", profile,
			"--data-dir", filepath.Join(dir, "data"), "--sim-backfill", "1h",
			"--router-config", routerFile, "--bridge-listen", ""}, io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("up returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("up did not stop")
		}
	})
	s := &stack{
		ws:      "ws://" + cfg.Listeners.WebSocket.Address + "/ws",
		tcp:     "tcp://" + cfg.Listeners.RawSocket.Address,
		caFile:  ca,
		names:   n,
		profile: profile,
	}
	if withTLS {
		s.ws, s.tcp = "wss"+strings.TrimPrefix(s.ws, "ws"), "tcps"+strings.TrimPrefix(s.tcp, "tcp")
	}
	// urfave/cli writes package-level state (help command and flag) on
	// every run. Reading the log that `up` writes after its start orders
	// those writes before the runs below, for the race detector too.
	poll(t, 30*time.Second, func() (bool, string) {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("up returned %v:\n%s", err, logs.String())
		default:
		}
		return strings.Contains(logs.String(), "router up"), logs.String()
	})
	// The backfill is written in the background: wait until the hour is
	// served, not only until the node is listed.
	poll(t, 30*time.Second, func() (bool, string) {
		out, err := s.telemesh(ctx, "get", "sim", "co2", "--since", "1h", "--max-points", "10", "--format", "csv")
		return err == nil && strings.Count(strings.TrimSpace(out), "\n") >= 9, fmt.Sprintf("%v\n%s\nlogs:\n%s", err, out, logs.String())
	})
	return s
}

// telemesh runs a client subcommand of the CLI against the stack.
func (s *stack) telemesh(ctx context.Context, args ...string) (string, error) {
	var out syncBuffer
	full := append([]string{"telemesh", "--log-level", "error"}, args...)
	full = append(full, "--url", s.ws, "--profile", s.profile)
	if s.caFile != "" {
		full = append(full, "--ca-file", s.caFile)
	}
	err := cli.Run(ctx, full, &out, &out)
	return out.String(), err
}

// poll calls cond every 100ms until it holds, failing the test with its
// last message at the deadline.
func poll(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// script runs an example and returns its combined output; wantErr says
// whether it must exit non-zero.
func script(t *testing.T, wantErr bool, name string, args ...string) string {
	t.Helper()
	out, err := testutil.RunErr(scriptTime, name, args...)
	switch {
	case wantErr && err == nil:
		t.Fatalf("%s %v succeeded, want an error:\n%s", name, args, out)
	case !wantErr && err != nil:
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// checkNodes asserts on list_nodes output: the sim node with its units.
func checkNodes(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{"sim  simulated sensors", "co2", "ppm", "temperature", "degC", "humidity", "every 1 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("node list lacks %q:\n%s", want, out)
		}
	}
}

// checkCSV asserts on get_data CSV output: the header, at most maxRows rows
// of plausible simulated values and, when timed, ISO times within the
// requested hour.
func checkCSV(t *testing.T, out string, fields []string, maxRows int, timed bool) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, out)
	}
	if got, want := strings.Join(recs[0], ","), "time,"+strings.Join(fields, ","); got != want {
		t.Fatalf("header %q, want %q\n%s", got, want, out)
	}
	rows := recs[1:]
	if len(rows) == 0 || len(rows) > maxRows {
		t.Fatalf("%d rows, want 1..%d:\n%s", len(rows), maxRows, out)
	}
	plausible := map[string][2]float64{"co2": {300, 5000}, "temperature": {-20, 60}, "humidity": {0, 100}}
	// A bucket is stamped at its start, which may lie before the range's.
	now, slack := time.Now(), 5*time.Minute
	for _, r := range rows {
		if timed {
			ts, err := time.Parse(time.RFC3339, r[0])
			if err != nil || ts.Before(now.Add(-time.Hour-slack)) || ts.After(now) {
				t.Errorf("time %q not within the last hour (%v)", r[0], err)
			}
		}
		for i, f := range fields {
			v, err := strconv.ParseFloat(r[i+1], 64)
			if err != nil || v < plausible[f][0] || v > plausible[f][1] {
				t.Errorf("%s = %q, want a number in %v", f, r[i+1], plausible[f])
			}
		}
	}
}

// checkLive asserts that count live batches with the field were printed.
func checkLive(t *testing.T, out, field string, count int) {
	t.Helper()
	if !strings.Contains(out, fmt.Sprintf("batch %d\n", count)) || !strings.Contains(out, " "+field+" ") {
		t.Errorf("want %d live batches of %s:\n%s", count, field, out)
	}
}

func TestPython(t *testing.T) {
	py := testutil.NeedPython(t)
	s := startStack(t, "telemesh", false)
	dir := filepath.Join("python")
	run := func(wantErr bool, file string, args ...string) string {
		return script(t, wantErr, py, append([]string{filepath.Join(dir, file)}, args...)...)
	}
	ws := func(ser string) []string { return []string{"--url", s.ws, "--serializer", ser} }
	rs := []string{"--url", s.tcp, "--serializer", "cbor", "--authid", readerID, "--secret", readerSecret}

	t.Run("list_nodes", func(t *testing.T) {
		checkNodes(t, run(false, "list_nodes.py", ws("json")...))
		checkNodes(t, run(false, "list_nodes.py", ws("msgpack")...))
		checkNodes(t, run(false, "list_nodes.py", rs...))
	})
	t.Run("get_data", func(t *testing.T) {
		out := run(false, "get_data.py", append([]string{"sim", "co2", "temperature", "--since", "3600", "--max-points", "20", "--csv"}, ws("msgpack")...)...)
		checkCSV(t, out, []string{"co2", "temperature"}, 20, true)
		// minmax keeps two points per bucket.
		out = run(false, "get_data.py", append([]string{"sim", "humidity", "--since", "1h", "--max-points", "15", "--agg", "minmax", "--csv"}, rs...)...)
		checkCSV(t, out, []string{"humidity"}, 30, false)
		out = run(false, "get_data.py", append([]string{"sim", "co2", "--since", "600"}, ws("json")...)...)
		if !strings.Contains(out, "co2: ") || !strings.Contains(out, " points  min ") {
			t.Errorf("summary:\n%s", out)
		}
	})
	t.Run("unknown_field", func(t *testing.T) {
		for _, args := range [][]string{ws("json"), rs} {
			out := run(true, "get_data.py", append([]string{"sim", "no_such_field", "--csv"}, args...)...)
			if !strings.Contains(out, "telemesh.error.unknown_field") {
				t.Errorf("want the unknown_field URI:\n%s", out)
			}
		}
	})
	t.Run("live", func(t *testing.T) {
		checkLive(t, run(false, "live.py", append([]string{"sim", "co2", "--count", "2"}, ws("json")...)...), "co2", 2)
		checkLive(t, run(false, "live.py", append([]string{"sim", "temperature", "--count", "1"}, rs...)...), "temperature", 1)
	})
	t.Run("refused", func(t *testing.T) {
		out := run(true, "list_nodes.py", "--url", s.ws, "--authid", readerID, "--secret", "wrong")
		if !strings.Contains(out, "wamp.error.authentication_failed") {
			t.Errorf("want authentication_failed:\n%s", out)
		}
	})
}

func TestJS(t *testing.T) {
	node := testutil.Need(t, "node")
	dir := "js"
	testutil.NeedNodeModule(t, dir, "autobahn")
	s := startStack(t, "telemesh", false)
	// Node 20 has WebSocket only behind a flag; RawSocket needs none.
	run := func(wantErr bool, file string, args ...string) string {
		full := []string{filepath.Join(dir, file)}
		if containsWS(args) {
			full = append([]string{"--experimental-websocket"}, full...)
		}
		return script(t, wantErr, node, append(full, args...)...)
	}
	rs := []string{"--authid", readerID, "--secret", readerSecret, "--url", s.tcp}
	ws := func(ser string) []string { return []string{"--serializer", ser, "--url", s.ws} }

	t.Run("list-nodes", func(t *testing.T) {
		checkNodes(t, run(false, "list-nodes.js", ws("json")...))
		checkNodes(t, run(false, "list-nodes.js", ws("msgpack")...))
		checkNodes(t, run(false, "list-nodes.js", rs...))
	})
	t.Run("get-data", func(t *testing.T) {
		out := run(false, "get-data.js", append([]string{"sim", "co2", "temperature", "--since", "3600", "--max-points", "20", "--csv"}, ws("cbor")...)...)
		checkCSV(t, out, []string{"co2", "temperature"}, 20, true)
		out = run(false, "get-data.js", append([]string{"sim", "humidity", "--since", "1h", "--max-points", "15", "--agg", "minmax", "--csv"}, rs...)...)
		checkCSV(t, out, []string{"humidity"}, 30, false)
	})
	t.Run("unknown-field", func(t *testing.T) {
		for _, args := range [][]string{ws("json"), rs} {
			out := run(true, "get-data.js", append([]string{"sim", "no_such_field", "--csv"}, args...)...)
			if !strings.Contains(out, "telemesh.error.unknown_field") {
				t.Errorf("want the unknown_field URI:\n%s", out)
			}
		}
	})
	t.Run("live", func(t *testing.T) {
		checkLive(t, run(false, "live.js", append([]string{"sim", "co2", "--count", "2"}, ws("msgpack")...)...), "co2", 2)
		checkLive(t, run(false, "live.js", append([]string{"sim", "humidity", "--count", "1"}, rs...)...), "humidity", 1)
	})
	t.Run("websocket-hint", func(t *testing.T) {
		if exec.Command(node, "-e", "process.exit(typeof WebSocket === 'undefined' ? 0 : 1)").Run() != nil {
			t.Skip("this Node.js has WebSocket without a flag")
		}
		out := script(t, true, node, filepath.Join(dir, "list-nodes.js"), "--url", s.ws)
		if !strings.Contains(out, "--experimental-websocket") {
			t.Errorf("want the --experimental-websocket hint:\n%s", out)
		}
	})
}

// TestTLS connects the examples over wss:// and tcps:// trusting the CA
// of `telemesh tls init`, as the README describes.
func TestTLS(t *testing.T) {
	py := testutil.NeedPython(t)
	s := startStack(t, "telemesh", true)
	py1 := func(wantErr bool, args ...string) string {
		return script(t, wantErr, py, append([]string{filepath.Join("python", "list_nodes.py")}, args...)...)
	}
	checkNodes(t, py1(false, "--url", s.ws, "--ca-file", s.caFile))
	checkNodes(t, py1(false, "--url", s.tcp, "--ca-file", s.caFile, "--serializer", "cbor", "--authid", readerID, "--secret", readerSecret))
	if out := py1(true, "--url", s.ws); !strings.Contains(out, "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("without the CA, want a certificate error:\n%s", out)
	}

	node := testutil.Need(t, "node")
	testutil.NeedNodeModule(t, "js", "autobahn")
	out := script(t, false, node, "--experimental-websocket", filepath.Join("js", "list-nodes.js"), "--url", s.ws, "--ca-file", s.caFile)
	checkNodes(t, out)
}

// TestReadmeSnippets runs the Python and JavaScript snippets of the
// repository's README against a stack until they print a query result and
// a live batch.
func TestReadmeSnippets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	if i := strings.Index(section, "## Connecting from Python and JavaScript"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal("README has no section on connecting from Python and JavaScript")
	}
	snippet := func(lang string) string {
		_, rest, ok := strings.Cut(section, "```"+lang+"\n")
		code, _, ok2 := strings.Cut(rest, "```")
		if !ok || !ok2 {
			t.Fatalf("no %s snippet in the README section", lang)
		}
		return code
	}
	py, js := snippet("python"), snippet("js")

	s := startStack(t, "telemesh", false)
	dir := t.TempDir()
	write := func(name, code string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(code, "ws://127.0.0.1:8080/ws", s.ws)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("python", func(t *testing.T) {
		python := testutil.NeedPython(t)
		runUntil(t, nil, regexp.MustCompile(`\['sim'\] \['co2', 'humidity', 'temperature'\] [1-9]\d*\n\{'`), python, write("snippet.py", py))
	})
	t.Run("js", func(t *testing.T) {
		node := testutil.Need(t, "node")
		modules := testutil.NeedNodeModule(t, "js", "autobahn")
		runUntil(t, []string{"NODE_PATH=" + modules}, regexp.MustCompile(`\[ '\w+', '\w+', '\w+' \] [1-9]\d*\n\{ `),
			node, "--experimental-websocket", write("snippet.js", js))
	})
}

// runUntil runs a program that does not exit by itself until its output
// matches want, then stops it.
func runUntil(t *testing.T, env []string, want *regexp.Regexp, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTime)
	defer cancel()
	var out syncBuffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !want.MatchString(out.String()) {
		select {
		case err := <-exited:
			t.Fatalf("%s exited (%v) before printing %v:\n%s", name, err, want, out.String())
		case <-tick.C:
		}
	}
	cancel()
	<-exited
}

func containsWS(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "ws://") || strings.HasPrefix(a, "wss://") {
			return true
		}
	}
	return false
}

// TestSisockDataNode runs the sisock-style Python node against a stack
// with the sisock profile and reads its sine wave through the CLI and the
// Go consumer library.
func TestSisockDataNode(t *testing.T) {
	py := testutil.NeedPython(t)
	s := startStack(t, "sisock", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var nodeOut syncBuffer
	cmd := exec.CommandContext(ctx, py, filepath.Join("python", "sisock_datanode.py"),
		"--profile", "sisock", "--url", s.tcp, "--serializer", "cbor", "--authid", nodeID, "--name", nodeID, "--amplitude", "2")
	cmd.Env = append(os.Environ(), "TELEMESH_SECRET="+nodeSecret)
	cmd.Stdout, cmd.Stderr = &nodeOut, &nodeOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
	}()

	poll(t, 30*time.Second, func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("node exited: %v\n%s", err, nodeOut.String())
		default:
		}
		out, err := s.telemesh(ctx, "nodes")
		return err == nil && strings.Contains(out, "sine wave (sisock-style example node)"), fmt.Sprintf("%v\n%s\nnode:\n%s", err, out, nodeOut.String())
	})

	out, err := s.telemesh(ctx, "get", "sine", "sine", "--since", "30s", "--format", "csv")
	if err != nil || !strings.HasPrefix(out, "time,sine\n") || strings.Count(out, "\n") < 10 {
		t.Errorf("telemesh get sine: %v\n%s", err, out)
	}

	dial, err := wampx.Config{URL: s.ws, Realm: s.names.Realm, Serializer: "json"}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := consumers.New(dial, s.names, nil)
	go cl.Run(ctx)
	if err := cl.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := cl.GetData(ctx, nodeID, consumers.Query{Fields: []string{"sine"}, Start: -60, End: 0})
	if err != nil {
		t.Fatal(err)
	}
	times, values := res.Timeline["sine_tl"].T, res.Data["sine"]
	if len(times) < 50 || len(times) != values.Len() {
		t.Fatalf("%d times, %d values for a minute of 1 Hz data", len(times), values.Len())
	}
	for i, ts := range times {
		want := 2 * math.Sin(2*math.Pi*ts/60)
		if v := values.At(i); v.Type != protocol.TypeNumber || math.Abs(v.Num-want) > 1e-9 {
			t.Fatalf("sine at %v = %v, want %v", ts, v.Any(), want)
		}
	}

	// Its errors use telemesh's URIs too.
	_, err = cl.GetData(ctx, nodeID, consumers.Query{Fields: []string{"cosine"}, Start: -60, End: 0})
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Kind != protocol.UnknownField {
		t.Errorf("unknown field: %v", err)
	}

	// And it is live: the Python consumer sees its batches.
	live := script(t, false, py, filepath.Join("python", "live.py"), "sine", "--count", "2", "--profile", "sisock", "--url", s.ws)
	checkLive(t, live, "sine", 2)
}

// syncBuffer is a bytes.Buffer safe for a writer running alongside the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
