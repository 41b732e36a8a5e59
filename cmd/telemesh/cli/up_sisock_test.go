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
	tlsPort, plainPort := testutil.FreePort(t), testutil.FreePort(t)
	path = filepath.Join(dir, "config.json")
	testutil.CrossbarConfig(t, "../../../crossbar-config/examples/sisock/.crossbar/config.json", path, func(old int) int {
		if old == 8080 {
			return tlsPort
		}
		return plainPort
	})
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

// TestGetSisockNode: get --max-points/--agg on a sisock-era node (whose
// get_data takes no max_points or agg) falls back to min_stride and
// downsamples here, as the Grafana bridge does.
func TestGetSisockNode(t *testing.T) {
	t.Setenv("SISOCK_SERVER_SECRET", "server-secret")
	t.Setenv("SISOCK_SIMONSOBS_SECRET", "simonsobs-secret")
	path, _, plainAddr := sisockCBDir(t)
	var logs testutil.SyncBuffer
	testutil.Serve(t, func(ctx context.Context) error {
		return Run(ctx, []string{"telemesh", "up", "--data-dir", t.TempDir(), "--profile", "sisock", "--no-node",
			"--crossbar-config", path, "--bridge-listen", ""}, io.Discard, &logs)
	}, nil)
	testutil.Eventually(t, 20*time.Second, "up to start", func() bool { return strings.Contains(logs.String(), "router up") })
	url := "ws://" + plainAddr + "/ws"
	const spike = 1_700_001_234
	testutil.SisockNode(t, url, "test_realm", "org.simonsobservatory", "pynode", "--spike", fmt.Sprint(spike))
	var out, errs testutil.SyncBuffer
	err := Run(context.Background(), []string{"telemesh", "get", "pynode", "temp", "--from", "1700000000", "--to", "1700003600",
		"--max-points", "10", "--agg", "max", "--format", "csv", "--url", url, "--profile", "sisock"}, &out, &errs)
	if err != nil {
		t.Fatalf("get: %v\n%s", err, errs.String())
	}
	rows := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(rows) < 2 || len(rows) > 11 {
		t.Fatalf("get --max-points 10 gave %d lines:\n%s", len(rows), out.String())
	}
	if !strings.Contains(out.String(), ",99") {
		t.Errorf("the spike is lost with --agg max:\n%s", out.String())
	}
	if !strings.Contains(errs.String(), "sisock node") {
		t.Errorf("the fallback is not logged:\n%s", errs.String())
	}
}
