package crossbar

import (
	"encoding/json"
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
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := router.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, s.Run, s.Ready())
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
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	for _, w := range root["workers"].([]any) {
		ts, _ := w.(map[string]any)["transports"].([]any)
		for _, tr := range ts {
			ep := tr.(map[string]any)["endpoint"].(map[string]any)
			ep["port"], ep["interface"] = 0, "127.0.0.1"
		}
	}
	if b, err = json.MarshalIndent(root, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
