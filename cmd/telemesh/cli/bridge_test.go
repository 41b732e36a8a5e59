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
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
)

// TestBridgeCommand runs `telemesh bridge` against a router and checks auth
// from a file, then bad flag combinations.
func TestBridgeCommand(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	port := testutil.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"telemesh", "bridge", "--url", url, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--auth-token-file", tok, "--node-timeout", "2s"}, io.Discard, io.Discard)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	var resp *http.Response
	var err error
	for {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / with token: %s", resp.Status)
	}
	if resp, err = http.Get(base + "/"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("GET / without token: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"--basic-auth", "nocolon"},
		{"--auth-token", "a", "--auth-token-file", tok},
		{"--tls-cert", "x.pem"},
		{"--default-agg", "median"},
		{"--node-timeout", "0s"},
	} {
		err := Run(context.Background(), append([]string{"telemesh", "bridge", "--url", url, "--listen", "127.0.0.1:0"}, args...), io.Discard, io.Discard)
		if err == nil || strings.Contains(err.Error(), "address") {
			t.Errorf("%v: %v, want a flag error", args, err)
		}
	}
}
