package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/tls/pki"
	"github.com/telemesh/telemesh/wampx"
)

// sisockCBDir writes the sisock example config with free loopback ports,
// sisock's certificate files and the static folder; it returns the
// config's path and the two transports' addresses.
func sisockCBDir(t *testing.T) (path, tlsAddr, plainAddr string) {
	t.Helper()
	site := t.TempDir()
	dir := filepath.Join(site, ".crossbar")
	if _, err := pki.InitSisock(dir, pki.Options{CN: "localhost", SANs: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../../crossbar-config/examples/sisock/.crossbar/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	tlsPort, plainPort := testutil.FreePort(t), testutil.FreePort(t)
	for _, w := range root["workers"].([]any) {
		ts, _ := w.(map[string]any)["transports"].([]any)
		for _, tr := range ts {
			ep := tr.(map[string]any)["endpoint"].(map[string]any)
			if ep["port"].(float64) == 8080 {
				ep["port"] = tlsPort
			} else {
				ep["port"] = plainPort
			}
			ep["interface"] = "127.0.0.1"
		}
	}
	b, _ = json.Marshal(root)
	path = filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(site, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "www", "index.html"), []byte("Sisock is running\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("127.0.0.1:%d", tlsPort), fmt.Sprintf("127.0.0.1:%d", plainPort)
}

// TestUpSisockCrossbarConfig: up with a sisock site's crossbar config and
// the sisock profile runs a working hub, node and bridge although the
// config has none of telemesh's roles; sisock's consumer (simonsobs over
// wss:// and WAMP-CRA) and an anonymous client on the plain port see the
// node.
func TestUpSisockCrossbarConfig(t *testing.T) {
	t.Setenv("SISOCK_SERVER_SECRET", "server-secret")
	t.Setenv("SISOCK_SIMONSOBS_SECRET", "simonsobs-secret")
	path, tlsAddr, plainAddr := sisockCBDir(t)
	var logs testutil.SyncBuffer
	testutil.Serve(t, func(ctx context.Context) error {
		return Run(ctx, []string{"telemesh", "up", "--data-dir", t.TempDir(), "--profile", "sisock", "--sim-backfill", "0",
			"--crossbar-config", path, "--bridge-listen", ""}, io.Discard, &logs)
	}, nil)
	testutil.Eventually(t, 20*time.Second, "up to start", func() bool { return strings.Contains(logs.String(), "router up") })
	ca := filepath.Join(filepath.Dir(path), "server_cert.pem")
	for _, c := range []wampx.Config{
		{URL: "wss://" + tlsAddr + "/ws", AuthID: "simonsobs", AuthMethod: "wampcra", Secret: "simonsobs-secret", CAFile: ca},
		{URL: "ws://" + plainAddr + "/ws"},
	} {
		c.Realm = "test_realm"
		d, err := c.Dialer(nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := d(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.URL, err, logs.String())
		}
		testutil.Eventually(t, 20*time.Second, "the sim node listed at "+c.URL, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, err := cl.Call(ctx, "org.simonsobservatory.consumer.get_data_node", nil, nil, nil, nil)
			if err != nil || len(res.Arguments) == 0 {
				return false
			}
			l, _ := wamp.AsList(res.Arguments[0])
			for _, e := range l {
				if d, _ := wamp.AsDict(e); d["name"] == "sim" {
					return true
				}
			}
			return false
		})
		cl.Close()
	}
	if strings.Contains(logs.String(), "unknown role") {
		t.Errorf("in-process components refused:\n%s", logs.String())
	}
}
