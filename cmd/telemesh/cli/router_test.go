package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRouterCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(bad, []byte("listeners: {websocket: {address: 127.0.0.1:0}}\nrealms: []\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"router", "--config", bad}, "field bogus not found"},
		{[]string{"router", "--config", bad, "--crossbar-config", bad}, "not both"},
		{[]string{"router", "--profile", "nope"}, "unknown profile"},
		{[]string{"router", "--ws-listen", "", "--rs-listen", ""}, "no websocket or rawsocket address"},
		{[]string{"router", "--ws-listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none.crt"), "--tls-key", bad}, "none.crt"},
	} {
		_, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestRouterCommandRuns starts the router on kernel-chosen ports, waits
// for its listeners and stops it as a signal would.
func TestRouterCommandRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errb := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"telemesh", "router", "--profile", "sisock", "--ws-listen", "127.0.0.1:0", "--rs-listen", "127.0.0.1:0"}, &out, errb)
	}()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(errb.String(), "rawsocket listener") {
		select {
		case err := <-done:
			t.Fatalf("router exited: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatalf("no listener logged:\n%s", errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The live dashboard is served on the WebSocket listener, for the realm.
	m := regexp.MustCompile(`url=ws://([0-9.:]+)/ws`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("no websocket URL logged:\n%s", errb.String())
	}
	resp, err := http.Get("http://" + m[1] + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"realm":"test_realm"`) || !strings.Contains(string(body), `"base":"org.simonsobservatory"`) {
		t.Errorf("dashboard config: %s %s", resp.Status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "name=test_realm") {
		t.Errorf("sisock realm not logged:\n%s", errb.String())
	}
}
