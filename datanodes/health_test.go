package datanodes

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
)

// TestWatchdog runs a node with no hub to register with: past the
// watchdog bound it reports itself unhealthy on /healthz and /metrics;
// once a hub lists it, healthy again.
func TestWatchdog(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	e := startNode(t, url, func(c *Config) {
		c.Health = HealthConfig{Listen: "127.0.0.1:0", Watchdog: Duration(200 * time.Millisecond)}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + e.node.HealthAddr() + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testutil.Eventually(t, 10*time.Second, "the watchdog to fire", func() bool { return !e.node.Health().OK })
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not registered with the hub") {
		t.Errorf("/healthz while unregistered: %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "telemesh_node_healthy 0") || !strings.Contains(body, "telemesh_node_registered 0") {
		t.Errorf("/metrics while unregistered:\n%s", body)
	}

	h, err := hub.New(hub.Config{Names: protocol.DefaultNames(), Dial: dialer(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 10*time.Second, "the node registered", func() bool { return e.node.Health().OK })
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz once registered: %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "telemesh_node_registered 1") {
		t.Errorf("/metrics once registered:\n%s", body)
	}
}
