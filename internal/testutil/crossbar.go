package testutil

import (
	"encoding/json"
	"os"
	"testing"
)

// CrossbarConfig copies the crossbar config at src to dst with every
// router transport's endpoint on 127.0.0.1 and port(its port in src), so a
// site's own config runs on the ports a test chose (0: the kernel's).
func CrossbarConfig(t testing.TB, src, dst string, port func(old int) int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	for _, w := range root["workers"].([]any) {
		ts, _ := w.(map[string]any)["transports"].([]any)
		for _, tr := range ts {
			ep := tr.(map[string]any)["endpoint"].(map[string]any)
			old, _ := ep["port"].(float64)
			ep["port"], ep["interface"] = port(int(old)), "127.0.0.1"
		}
	}
	if b, err = json.MarshalIndent(root, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
