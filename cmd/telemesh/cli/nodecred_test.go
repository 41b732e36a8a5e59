package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestUpAddsNode follows the commands telemesh up prints: a node on the
// same machine finds the credential in the data dir, one elsewhere uses
// it by flags, and an anonymous node ends at once saying why.
func TestUpAddsNode(t *testing.T) {
	ws, rs := testutil.FreePort(t), testutil.FreePort(t)
	dir := t.TempDir()
	var logs testutil.SyncBuffer
	testutil.Serve(t, func(ctx context.Context) error {
		return Run(ctx, []string{"telemesh", "up", "--data-dir", dir, "--sim-backfill", "0", "--bridge-listen", "",
			"--ws-listen", fmt.Sprintf("127.0.0.1:%d", ws), "--rs-listen", fmt.Sprintf("127.0.0.1:%d", rs)}, io.Discard, &logs)
	}, nil)
	testutil.Eventually(t, 20*time.Second, "up to start", func() bool { return strings.Contains(logs.String(), "add a data node") })
	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", ws)
	want := "telemesh node --name NAME --driver hwmon --data-dir " + dir
	if !strings.Contains(logs.String(), want) {
		t.Errorf("up does not print %q:\n%s", want, logs.String())
	}
	if strings.Contains(logs.String(), "node=sim node=sim") {
		t.Errorf("duplicated node attribute:\n%s", logs.String())
	}
	defer func() {
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if !strings.HasPrefix(l, "time=") {
				t.Errorf("unstructured log line: %q", l)
			}
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// urfave/cli writes package-level flag state while it parses: each
	// command starts once the one before is past parsing.
	node := func(args ...string) chan error {
		var out testutil.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, append([]string{"telemesh", "node", "--url", url, "--driver", "sim"}, args...), io.Discard, &out)
		}()
		testutil.Eventually(t, 10*time.Second, "the node to start or end", func() bool {
			return strings.Contains(out.String(), "node starting") || len(done) > 0
		})
		return done
	}
	local := node("--name", "lab1", "--data-dir", dir)
	remote := node("--name", "pi1", "--data-dir", t.TempDir(), "--authid", "node", "--secret-file", filepath.Join(dir, "node.secret"))
	testutil.Eventually(t, 20*time.Second, "both nodes listed", func() bool {
		var out testutil.SyncBuffer
		_, err := runCtx(context.Background(), &out, "nodes", "--url", url)
		return err == nil && strings.Contains(out.String(), "lab1") && strings.Contains(out.String(), "pi1")
	})

	start := time.Now()
	anon := node("--name", "anon", "--data-dir", t.TempDir())
	select {
	case err := <-anon:
		if err == nil || !strings.Contains(err.Error(), "anonymous sessions are read-only") || !strings.Contains(err.Error(), "node.secret") {
			t.Errorf("anonymous node: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("anonymous node took %v to give up", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an anonymous node did not end")
	}
	cancel()
	for _, d := range []chan error{local, remote} {
		if err := <-d; err != nil {
			t.Errorf("node: %v", err)
		}
	}
}

func TestWebAndNodeCommandURLs(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:8080/ws":     "http://127.0.0.1:8080/",
		"wss://lab.example:8443/ws":  "https://lab.example:8443/",
		"wss://[::1]:8443/telemesh/": "https://[::1]:8443/",
	} {
		if got := webURL(in); got != want {
			t.Errorf("webURL(%s) = %s, want %s", in, got, want)
		}
	}
	if _, lan := nodeCommands("ws://127.0.0.1:8080/ws", "data", "telemesh"); lan != "" {
		t.Errorf("a loopback listener offers a LAN command: %s", lan)
	}
	local, lan := nodeCommands("wss://192.168.1.5:8080/ws", "/var/lib/telemesh", "sisock")
	if want := "telemesh node --name NAME --driver hwmon --data-dir /var/lib/telemesh --profile sisock"; local != want {
		t.Errorf("local command %q, want %q", local, want)
	}
	if want := "telemesh node --name NAME --driver hwmon --url wss://192.168.1.5:8080/ws --authid node --secret-file node.secret --profile sisock --ca-file ca.crt"; lan != want {
		t.Errorf("LAN command %q, want %q", lan, want)
	}
}
