package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestUp runs the whole stack in-process on free ports and checks what a
// first-time user sees: the simulated node listed with history, the
// Grafana bridge answering, the dashboard served, and a clean stop (Serve
// fails the test if up returns an error when the test ends).
func TestUp(t *testing.T) {
	for _, profile := range []string{"telemesh", "sisock"} {
		t.Run(profile, func(t *testing.T) {
			ws, rs, br := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
			var logs testutil.SyncBuffer
			dataDir := t.TempDir()
			testutil.Serve(t, func(ctx context.Context) error {
				return Run(ctx, []string{"telemesh", "up",
					"--data-dir", dataDir, "--profile", profile, "--sim-backfill", "1h",
					"--ws-listen", fmt.Sprintf("127.0.0.1:%d", ws),
					"--rs-listen", fmt.Sprintf("127.0.0.1:%d", rs),
					"--bridge-listen", fmt.Sprintf("127.0.0.1:%d", br)}, io.Discard, &logs)
			}, nil)
			url := fmt.Sprintf("ws://127.0.0.1:%d/ws", ws)
			// urfave/cli writes package-level flag state while it parses,
			// so the test's own Run calls wait until up is past parsing.
			testutil.Eventually(t, 20*time.Second, "up to start", func() bool { return strings.Contains(logs.String(), "router up") })
			// The sisock profile alone says why sisock's own components will
			// not join and what to run instead.
			if hint := strings.Contains(logs.String(), "--crossbar-config .crossbar/config.json"); hint != (profile == "sisock") {
				t.Errorf("profile %s: sisock hint logged = %v", profile, hint)
			}

			ctx := context.Background()
			run := func(args ...string) (string, error) {
				var out testutil.SyncBuffer
				err := Run(ctx, append([]string{"telemesh"}, append(args, "--url", url, "--profile", profile)...), &out, io.Discard)
				return out.String(), err
			}
			testutil.Eventually(t, 20*time.Second, "the sim node listed", func() bool {
				out, err := run("nodes")
				return err == nil && strings.Contains(out, "co2,humidity,temperature")
			})
			// The hub keeps what the node announced in the data folder.
			testutil.Eventually(t, 10*time.Second, "the hub state file", func() bool {
				b, err := os.ReadFile(filepath.Join(dataDir, "hub-state.json"))
				return err == nil && strings.Contains(string(b), `"sim"`)
			})
			// The backfill is written in the background; wait until the
			// hour is there, checking max-points holds on every answer.
			testutil.Eventually(t, 20*time.Second, "the backfilled hour", func() bool {
				out, err := run("get", "sim", "co2", "--since", "1h", "--max-points", "10", "--format", "csv")
				rows := strings.Count(strings.TrimSpace(out), "\n")
				if rows > 10 {
					t.Fatalf("get with --max-points 10 gave %d rows:\n%s", rows, out)
				}
				return err == nil && rows >= 9
			})

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
		})
	}
}
