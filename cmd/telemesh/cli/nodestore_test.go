package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
)

// nodeFile writes a node file with store settings and a health endpoint.
func nodeFile(t *testing.T, name string, health int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	yaml := fmt.Sprintf(`name: %s
store:
  flush_interval: 7s
  retention: {raw: 48h, minute: 30d}
health:
  listen: 127.0.0.1:%d
  watchdog: 300ms
drivers:
  - type: sim
    backfill: "0"
`, name, health)
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNodeStoreSettings runs a node file through `up --node-config` and
// through `node`: both open the store with the file's flush interval and
// retention (up used to open it with none).
func TestNodeStoreSettings(t *testing.T) {
	want := `flush_interval=7s retention_raw=48h0m0s retention_minute=720h0m0s`
	t.Run("up", func(t *testing.T) {
		ws, dir := testutil.FreePort(t), t.TempDir()
		var logs testutil.SyncBuffer
		testutil.Serve(t, func(ctx context.Context) error {
			return Run(ctx, []string{"telemesh", "up", "--data-dir", dir, "--node-config", nodeFile(t, "lab", testutil.FreePort(t)),
				"--ws-listen", fmt.Sprintf("127.0.0.1:%d", ws), "--rs-listen", "", "--bridge-listen", ""}, io.Discard, &logs)
		}, nil)
		testutil.Eventually(t, 20*time.Second, "the node's store opened", func() bool { return strings.Contains(logs.String(), "data node store") })
		if !strings.Contains(logs.String(), want) {
			t.Errorf("up opened the node's store without the node file's settings (want %s):\n%s", want, logs.String())
		}
		if !strings.Contains(logs.String(), "db="+filepath.Join(dir, "lab.db")) {
			t.Errorf("up ignored --data-dir for the node file's database:\n%s", logs.String())
		}
	})
	t.Run("node", func(t *testing.T) {
		url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
		var logs testutil.SyncBuffer
		testutil.Serve(t, func(ctx context.Context) error {
			return Run(ctx, []string{"telemesh", "node", "--config", nodeFile(t, "lab", testutil.FreePort(t)), "--url", url, "--data-dir", t.TempDir()}, io.Discard, &logs)
		}, nil)
		testutil.Eventually(t, 20*time.Second, "the node's store opened", func() bool { return strings.Contains(logs.String(), "data node store") })
		if !strings.Contains(logs.String(), want) {
			t.Errorf("node opened its store without the node file's settings (want %s):\n%s", want, logs.String())
		}
	})
}

// TestHealthcheckUnregisteredNode runs a node with no hub to register
// with: past its watchdog bound, `telemesh healthcheck --http` on its
// /healthz fails, and the node says so in its log.
func TestHealthcheckUnregisteredNode(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	port := testutil.FreePort(t)
	var logs testutil.SyncBuffer
	testutil.Serve(t, func(ctx context.Context) error {
		return Run(ctx, []string{"telemesh", "node", "--config", nodeFile(t, "lab", port), "--url", url, "--data-dir", t.TempDir()}, io.Discard, &logs)
	}, nil)
	testutil.Eventually(t, 20*time.Second, "the watchdog to fire", func() bool { return strings.Contains(logs.String(), "watchdog: node lab not registered") })
	_, err := run(t, "healthcheck", "--http", fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck of an unregistered node: %v, want a 503 failure", err)
	}
}
