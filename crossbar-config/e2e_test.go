package crossbarconfig

import (
	"bufio"
	"context"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("router not ready")
	}
	url := "wss://" + s.Addrs().WebSocket + "/ws"
	ca := filepath.Join(filepath.Dir(path), "ca.crt")
	script := filepath.Join("testdata", "cra_client.py")
	const uri = "org.simonsobservatory.consumer.test.echo"
	const private = "org.simonsobservatory.test.private"

	// The "server" user registers and keeps serving until stdin closes.
	srv := exec.Command(py, script, url, "test_realm", "server", ca, "server", uri, private)
	srv.Env = append(os.Environ(), "CRA_SECRET="+serverSecret)
	stdin, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		srv.Process.Kill()
		srv.Wait()
	})
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server client exited before registering; stderr:\n%s", stderr.String())
			}
			if l == "joined server server" || l == "ready" {
				ready = l == "ready"
				continue
			}
			t.Fatalf("server client printed %q; stderr:\n%s", l, stderr.String())
		case <-deadline:
			t.Fatalf("server client did not register; stderr:\n%s", stderr.String())
		}
	}

	// The consumer calls the procedure and is refused outside its prefix.
	cons := exec.Command(py, script, url, "test_realm", "simonsobs", ca, "consumer", uri, private)
	cons.Env = append(os.Environ(), "CRA_SECRET="+consumerSecret)
	out, err := runWithTimeout(cons, 30*time.Second)
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
	out, err = runWithTimeout(bad, 30*time.Second)
	if err == nil || strings.Contains(out, "joined") {
		t.Errorf("wrong secret accepted:\n%s", out)
	}
	t.Logf("client with a wrong secret:\n%s", out)
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return buf.String(), err
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
