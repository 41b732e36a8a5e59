package crossbar

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/router"
)

// TestSisockConfigWithAutobahn runs the sisock-era crossbar config with
// telemesh's router: python3-autobahn as user "server" registers a
// procedure, and as user "simonsobs" (role consumer) calls it over wss://
// with WAMP-CRA, and is refused outside the consumer prefix.
func TestSisockConfigWithAutobahn(t *testing.T) {
	py := testutil.NeedPython(t)
	const serverSecret, consumerSecret = "server-secret-for-test", "simonsobs-secret-for-test"
	t.Setenv("SISOCK_SERVER_SECRET", serverSecret)
	t.Setenv("SISOCK_SIMONSOBS_SECRET", consumerSecret)

	path := cbdirSisock(t)
	loopbackPorts(t, path)
	s := serveConfig(t, path)
	url := "wss://" + s.Addrs().WebSocket + "/ws"
	ca := filepath.Join(filepath.Dir(path), "ca.crt")
	script := filepath.Join("testdata", "cra_client.py")
	const uri = "org.simonsobservatory.consumer.test.echo"
	const private = "org.simonsobservatory.test.private"

	// The "server" user registers and keeps serving until stdin closes.
	srv := exec.Command(py, script, url, "test_realm", "server", ca, "server", uri, private)
	srv.Env = append(os.Environ(), "CRA_SECRET="+serverSecret)
	p := testutil.StartProc(t, srv)
	deadline := time.Now().Add(30 * time.Second)
	for ready := false; !ready; {
		l := p.Line(t, time.Until(deadline))
		if l != "joined server server" && l != "ready" {
			t.Fatalf("server client printed %q; stderr:\n%s", l, p.Stderr())
		}
		ready = l == "ready"
	}

	// The consumer calls the procedure and is refused outside its prefix.
	cons := exec.Command(py, script, url, "test_realm", "simonsobs", ca, "consumer", uri, private)
	cons.Env = append(os.Environ(), "CRA_SECRET="+consumerSecret)
	out, err := testutil.RunCmd(cons, 30*time.Second)
	if err != nil {
		t.Fatalf("consumer: %v\n%s", err, out)
	}
	for _, want := range []string{"joined simonsobs consumer", "result echo:hello", "denied wamp.error.not_authorized"} {
		if !strings.Contains(out, want) {
			t.Errorf("consumer output lacks %q:\n%s", want, out)
		}
	}

	// A wrong secret is refused.
	bad := exec.Command(py, script, url, "test_realm", "simonsobs", ca, "consumer", uri)
	bad.Env = append(os.Environ(), "CRA_SECRET=wrong")
	out, err = testutil.RunCmd(bad, 30*time.Second)
	if err == nil || strings.Contains(out, "joined") {
		t.Errorf("wrong secret accepted:\n%s", out)
	}
	t.Logf("client with a wrong secret:\n%s", out)
}

// loopbackPorts rewrites the endpoints of the config at path to listen on
// 127.0.0.1 with a port chosen by the system, leaving the rest unchanged.
func loopbackPorts(t *testing.T, path string) {
	t.Helper()
	testutil.CrossbarConfig(t, path, path, func(int) int { return 0 })
}

// serveConfig loads the crossbar config at path and runs its router until
// the test ends.
func serveConfig(t *testing.T, path string) *router.Server {
	t.Helper()
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := router.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s.Run, s.Ready())
	return s
}
