package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

func TestDriversCommand(t *testing.T) {
	out, err := run(t, "drivers")
	if err != nil || !strings.Contains(out, "sim ") {
		t.Fatalf("drivers: %v\n%s", err, out)
	}
	out, err = run(t, "drivers", "--sample", "sim")
	if err != nil || !strings.Contains(out, "type: sim") {
		t.Fatalf("drivers --sample sim: %v\n%s", err, out)
	}
	if _, err := run(t, "drivers", "--sample", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("unknown driver: %v", err)
	}
}

func TestNodeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(bad, []byte("name: x\ncolour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"node", "--driver", "sim"},
		{"node", "--name", "x"},
		{"node", "--name", "bad name", "--driver", "sim"},
		{"node", "--name", "x", "--driver", "nosuch"},
		{"node", "--config", bad},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestNodeCommand runs "telemesh node --driver sim" against a router and
// reads its fields and history back.
func TestNodeCommand(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfg, []byte("name: lab\ndrivers:\n  - type: sim\n    backfill: 1h\n    interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- Run(ctx, []string{"telemesh", "--log-level", "error", "node", "--config", cfg, "--url", url, "--data-dir", dir}, &out, &out)
	}()
	dial, err := wampx.Config{URL: url, Realm: protocol.DefaultRealm}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := protocol.DefaultNames()
	deadline := time.Now().Add(20 * time.Second)
	var res *wamp.Result
	for {
		res, err = c.Call(ctx, n.GetData("lab"), nil, wamp.List{[]string{"temperature"}, -3600, 0}, wamp.Dict{"max_points": 60}, nil)
		if err == nil {
			d, _ := wamp.AsDict(res.Arguments[0])
			data, _ := wamp.AsDict(d["data"])
			// Widths snap up to a rollup tier (docs/protocol.md): 1 h at 60
			// points is 70 s buckets, 52 of them.
			if l, _ := wamp.AsList(data["temperature"]); len(l) >= 51 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node never served its backfill: %v %v\n%s", err, res, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lab.db")); err != nil {
		t.Fatal(err)
	}
}
