package crossbar

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestOCSHTTPBridge runs the OCS crossbar config, with a publisher path
// added next to its caller path, and has a python3-autobahn agent serve
// while the same script calls it and publishes through crossbar's HTTP
// bridge as OCS's HTTP client does.
func TestOCSHTTPBridge(t *testing.T) {
	py := testutil.NeedPython(t)
	b, err := os.ReadFile("../examples/ocs/.crossbar/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	paths := root["workers"].([]any)[0].(map[string]any)["transports"].([]any)[0].(map[string]any)["paths"].(map[string]any)
	paths["publish"] = map[string]any{"type": "publisher", "realm": "test_realm", "role": "iocs_controller"}
	b, _ = json.Marshal(root)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	loopbackPorts(t, path)
	s := serveConfig(t, path)
	base := "http://" + s.Addrs().WebSocket
	out, err := testutil.RunErr(60*time.Second, py, filepath.Join("testdata", "ocs_agent.py"), "ws://"+s.Addrs().WebSocket+"/ws", "test_realm", base+"/call", base+"/publish")
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	for _, want := range []string{
		`call 200 {"args": [{"args": ["start", 1], "kwargs": {"mode": "fast"}}]}`,
		"call-error 200 wamp.error.no_such_procedure",
		"publish 200 True",
		`event ["go"]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("agent output lacks %q:\n%s", want, out)
		}
	}
}
