package router

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/tls/pki"
	"github.com/telemesh/telemesh/wampx"
)

// pyScenario is one run of testdata/wamp_client.py.
type pyScenario struct {
	name, url, ser, method, authid, secret string
	actions                                []string
	want                                   []string // lines the output must hold
}

// pyURL turns a router URL into autobahn's form (rs:// for RawSocket).
func pyURL(u string) string {
	p, _ := url.Parse(u)
	switch p.Scheme {
	case "tcp":
		return "rs://" + p.Host
	case "tcps":
		return "rss://" + p.Host
	}
	return u
}

func runPython(t *testing.T, py, cafile string, scenarios []pyScenario) {
	t.Helper()
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{filepath.Join("testdata", "wamp_client.py"), pyURL(sc.url), testNames.Realm, sc.ser,
				sc.method, orDash(sc.authid), orDash(sc.secret), orDash(cafile)}
			out, err := testutil.RunErr(30*time.Second, py, append(args, sc.actions...)...)
			if err != nil {
				t.Errorf("%s: %v\n%s", sc.name, err, out)
				return
			}
			for _, w := range sc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: output lacks %q:\n%s", sc.name, w, out)
				}
			}
		}()
	}
	wg.Wait()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// echoProcedure registers an echo at B.consumer.echo.get_data through an
// in-process admin session.
func echoProcedure(t testing.TB, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.LocalDialer("admin", protocol.RoleAdmin)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	proc := testNames.GetData("echo")
	if err := c.Register(proc, echo, nil); err != nil {
		t.Fatal(err)
	}
	return proc
}

// TestPythonAutobahn drives the router with autobahn-python over WebSocket
// and RawSocket, with each serializer and authentication method.
func TestPythonAutobahn(t *testing.T) {
	py := testutil.NeedPython(t)
	s := startServer(t, testConfig(t))
	echoProc := echoProcedure(t, s)
	ws, rs := s.WebSocketURL(), s.RawSocketURL()
	own, other := testNames.GetData("node1"), testNames.GetData("other")
	denied := "wamp.error.not_authorized"
	runPython(t, py, "", []pyScenario{
		{"ws json anonymous consumer", ws, "json", "anonymous", "", "",
			[]string{"call:" + echoProc, "register:" + testNames.GetData("c"), "publish:" + testNames.Data("c"), "subscribe:" + testNames.Data("node1")},
			[]string{"joined", " consumer", "ok call " + echoProc + " x", "error register " + testNames.GetData("c") + " " + denied,
				"error publish " + testNames.Data("c") + " " + denied, "ok subscribe"}},
		{"ws msgpack ticket datanode", ws, "msgpack", "ticket", "node1", nodeTicket,
			[]string{"register:" + own, "publish:" + testNames.Data("node1"), "register:" + other},
			[]string{"joined node1 datanode", "ok register " + own, "ok publish", "error register " + other + " " + denied}},
		{"ws cbor wampcra datanode", ws, "cbor", "wampcra", "node2", craSecret,
			[]string{"register:" + testNames.GetData("node2"), "register:" + own},
			[]string{"joined node2 datanode", "ok register " + testNames.GetData("node2"), "error register " + own + " " + denied}},
		{"rs json cryptosign datanode", rs, "json", "cryptosign", "node3", seedHex,
			[]string{"register:" + testNames.GetData("node3"), "register:" + other},
			[]string{"joined node3 datanode", "ok register " + testNames.GetData("node3"), "error register " + other + " " + denied}},
		{"rs msgpack salted wampcra", rs, "msgpack", "wampcra", "salted", craPassword,
			[]string{"register:" + testNames.GetData("salted")},
			[]string{"joined salted datanode", "ok register"}},
		{"rs cbor anonymous consumer", rs, "cbor", "anonymous", "", "",
			[]string{"call:" + echoProc, "register:" + echoProc},
			[]string{"ok call " + echoProc + " x", "error register " + echoProc + " " + denied}},
		{"ws wrong ticket", ws, "json", "ticket", "node1", "wrong", nil, []string{"refused"}},
		{"rs wrong wampcra", rs, "cbor", "wampcra", "node2", "wrong", nil, []string{"refused"}},
		{"ws wrong cryptosign key", ws, "msgpack", "cryptosign", "node3", strings.Repeat("22", 32), nil, []string{"refused"}},
	})
}

// TestPythonTLS connects autobahn-python over wss:// and rss:// with a
// certificate from tls/pki.
func TestPythonTLS(t *testing.T) {
	py := testutil.NeedPython(t)
	p, err := pki.Init(t.TempDir(), pki.Options{CN: "localhost", SANs: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	tc := TLSConfig{Cert: p.Cert, Key: p.Key}
	cfg.Listeners.WebSocket.TLS, cfg.Listeners.RawSocket.TLS = tc, tc
	s := startServer(t, cfg)
	if !strings.HasPrefix(s.WebSocketURL(), "wss://") || !strings.HasPrefix(s.RawSocketURL(), "tcps://") {
		t.Fatalf("URLs %s %s", s.WebSocketURL(), s.RawSocketURL())
	}
	echoProc := echoProcedure(t, s)
	runPython(t, py, p.CACert, []pyScenario{
		{"wss cbor wampcra", s.WebSocketURL(), "cbor", "wampcra", "node2", craSecret,
			[]string{"register:" + testNames.GetData("node2")}, []string{"joined node2 datanode", "ok register"}},
		{"rss msgpack ticket consumer call", s.RawSocketURL(), "msgpack", "anonymous", "", "",
			[]string{"call:" + echoProc}, []string{"ok call " + echoProc + " x"}},
	})
}

// TestPythonBinaryPayloads calls, with autobahn-python, between every pair
// of serializers with a bytes argument: callee and caller both get bytes
// (JSON carries them as "\x00" + base64, msgpack and CBOR natively), as
// with crossbar.
func TestPythonBinaryPayloads(t *testing.T) {
	py := testutil.NeedPython(t)
	cfg := testConfig(t)
	cfg.Realms[0].Auth.Anonymous.Role = protocol.RoleAdmin
	s := startServer(t, cfg)
	host, port, _ := strings.Cut(s.Addrs().RawSocket, ":")
	out := testutil.Run(t, 60*time.Second, py, filepath.Join("testdata", "binary_client.py"),
		s.WebSocketURL(), host, port, testNames.Realm, testNames.URI("binary."))
	for _, callee := range []string{"json", "msgpack", "cbor"} {
		for _, caller := range []string{"json", "msgpack", "cbor"} {
			want := "pair " + callee + " " + caller + " bytes bytes True"
			if !strings.Contains(out, want) {
				t.Errorf("callee %s, caller %s: output lacks %q", callee, caller, want)
			}
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestAutobahnJSProgressiveCallee has a real autobahn-js callee, which
// does not announce call canceling, stream progressive results to a Go
// caller, after idling over RawSocket for three keep-alive intervals
// (autobahn-js answers the router's PINGs).
func TestAutobahnJSProgressiveCallee(t *testing.T) {
	node := testutil.Need(t, "node")
	modules := testutil.NeedNodeModule(t, filepath.Join("..", "consumers", "examples", "js"), "autobahn")
	cfg := testConfig(t)
	cfg.Realms[0].Auth.Anonymous.Role = protocol.RoleAdmin
	cfg.KeepAlive = time.Second
	s := startServer(t, cfg)
	host, port, _ := strings.Cut(s.Addrs().RawSocket, ":")
	proc := testNames.URI("js.progress")
	cmd := exec.Command(node, filepath.Join("testdata", "progress_callee.js"), host, port, testNames.Realm, proc)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	p := testutil.StartProc(t, cmd)
	if line := p.Line(t, 20*time.Second); line != "registered" {
		t.Fatalf("callee: %q %s", line, p.Stderr())
	}
	time.Sleep(3 * time.Second) // idle: only the router's PINGs and their PONGs
	caller := mustDial(t, wampx.Config{URL: s.WebSocketURL()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var progress []any
	res, err := caller.Call(ctx, proc, nil, nil, nil, func(r *wamp.Result) { progress = append(progress, r.Arguments...) })
	if err != nil || len(res.Arguments) != 1 || fmt.Sprint(res.Arguments[0]) != "3" || fmt.Sprint(progress) != "[1 2]" {
		t.Fatalf("result %v, progress %v, err %v", res, progress, err)
	}
}

// TestPythonIdleRawSocket keeps autobahn-python sessions idle over
// RawSocket for three keep-alive intervals: autobahn-python cannot answer
// RawSocket PINGs, so the router must neither ping them to death nor drop
// them as silent.
func TestPythonIdleRawSocket(t *testing.T) {
	py := testutil.NeedPython(t)
	cfg := testConfig(t)
	cfg.KeepAlive = time.Second
	s := startServer(t, cfg)
	echoProc := echoProcedure(t, s)
	var scenarios []pyScenario
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		scenarios = append(scenarios, pyScenario{"rs idle " + ser, s.RawSocketURL(), ser, "anonymous", "", "",
			[]string{"sleep:3.5", "call:" + echoProc}, []string{"ok call " + echoProc + " x"}})
	}
	runPython(t, py, "", scenarios)
}
