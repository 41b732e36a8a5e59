package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestUp runs the whole stack in-process on free ports and checks what a
// first-time user sees: the simulated node listed with history, the
// Grafana bridge answering, the dashboard served, and a clean stop.
func TestUp(t *testing.T) {
	for _, profile := range []string{"telemesh", "sisock"} {
		t.Run(profile, func(t *testing.T) {
			ws, rs, br := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var logs syncBuffer
			go func() {
				done <- Run(ctx, []string{"telemesh", "up",
					"--data-dir", t.TempDir(), "--profile", profile, "--sim-backfill", "1h",
					"--ws-listen", fmt.Sprintf("127.0.0.1:%d", ws),
					"--rs-listen", fmt.Sprintf("127.0.0.1:%d", rs),
					"--bridge-listen", fmt.Sprintf("127.0.0.1:%d", br)}, io.Discard, &logs)
			}()
			url := fmt.Sprintf("ws://127.0.0.1:%d/ws", ws)
			// urfave/cli writes package-level flag state while it parses,
			// so the test's own Run calls wait until up is past parsing.
			waitFor(t, &logs, "router up", 20*time.Second)

			var out string
			deadline := time.Now().Add(20 * time.Second)
			for {
				var buf syncBuffer
				err := Run(ctx, []string{"telemesh", "nodes", "--url", url, "--profile", profile}, &buf, io.Discard)
				out = buf.String()
				if err == nil && strings.Contains(out, "co2,humidity,temperature") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("sim node not listed: %v\n%s\nlogs:\n%s", err, out, logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}

			// The backfill is written in the background; wait until the
			// hour is there, then check max-points held.
			for {
				var buf syncBuffer
				err := Run(ctx, []string{"telemesh", "get", "sim", "co2", "--url", url, "--profile", profile, "--since", "1h", "--max-points", "10", "--format", "csv"}, &buf, io.Discard)
				rows := strings.Count(strings.TrimSpace(buf.String()), "\n")
				if rows > 10 {
					t.Fatalf("get with --max-points 10 gave %d rows:\n%s", rows, buf.String())
				}
				if err == nil && rows >= 9 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("backfilled hour not served: %v\n%s", err, buf.String())
				}
				time.Sleep(100 * time.Millisecond)
			}

			for _, u := range []string{
				fmt.Sprintf("http://127.0.0.1:%d/", br),
				fmt.Sprintf("http://127.0.0.1:%d/", ws),
				fmt.Sprintf("http://127.0.0.1:%d/healthz", ws),
				fmt.Sprintf("http://127.0.0.1:%d/config.json", ws),
			} {
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %s", u, resp.Status)
				}
				if strings.HasSuffix(u, "config.json") && profile == "sisock" && !strings.Contains(string(body), "test_realm") {
					t.Errorf("dashboard config for sisock: %s", body)
				}
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("up returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("up did not stop")
			}
		})
	}
}

// waitFor waits until buf holds s.
func waitFor(t *testing.T, buf *syncBuffer, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v:\n%s", s, d, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
