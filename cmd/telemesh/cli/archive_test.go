package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/internal/testutil"
)

func TestArchiveCheck(t *testing.T) {
	out, err := run(t, "archive", "check", "-f", "../../../archive/testdata/archive.yaml")
	if err != nil || !strings.Contains(out, "3 sinks") {
		t.Errorf("good file: %v\n%s", err, out)
	}
	_, err = run(t, "archive", "check", "-f", "../../../archive/testdata/influx-url.bad.yaml")
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), `sinks[0] (influx "vm"): url:`) {
		t.Errorf("bad file: %v", err)
	}
}

func TestArchiveStatus(t *testing.T) {
	st := archive.Status{Sinks: []archive.SinkStatus{{Name: "vm", Type: "influx", Written: 42, Retries: 3, LastError: "connection refused",
		Nodes: []archive.NodeStatus{{Node: "sim", Lag: 1.5, CursorLag: 2.5, CatchingUp: true}}}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(st) }))
	defer srv.Close()
	out, err := run(t, "archive", "status", "--addr", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vm", "42", "connection refused", "sim", "1.5", "catching up"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if _, err := run(t, "archive", "status", "--addr", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "no archiver answers") {
		t.Errorf("no archiver: %v", err)
	}
}

// TestArchiveRunRetries starts the archiver with neither router nor sink
// reachable: it keeps retrying and serves its status until stopped.
func TestArchiveRunRetries(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	file := filepath.Join(dir, "archive.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlisten: %s\nsinks:\n  - {type: influx, name: vm, api: vm, url: \"http://127.0.0.1:1\"}\n", dir, addr)
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runCtx(ctx, &syncBuffer{}, "archive", "run", "-f", file, "--url", fmt.Sprintf("ws://127.0.0.1:%d/ws", testutil.FreePort(t)))
		done <- err
	}()
	testutil.Eventually(t, 10*time.Second, "status served", func() bool {
		out, err := run(t, "archive", "status", "--addr", addr)
		return err == nil && strings.Contains(out, "vm")
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("archive run: %v", err)
	}
}
