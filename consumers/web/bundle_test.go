package web_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestBundleUpToDate rebuilds the bundle from src/ and checks that the
// committed dist/ matches it, so the embedded dashboard is never stale.
func TestBundleUpToDate(t *testing.T) {
	nodeBin := testutil.Need(t, "node")
	if _, err := os.Stat(filepath.Join("node_modules", "esbuild")); err != nil {
		if testutil.InCI() {
			t.Fatalf("esbuild missing (make deps runs npm ci): %v", err)
		}
		testutil.SkipMissing(t, "esbuild not installed: run make deps")
	}
	out := t.TempDir()
	t.Setenv("TELEMESH_WEB_OUT", out)
	testutil.Run(t, time.Minute, nodeBin, "build.mjs")
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("dist", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("dist/%s is stale: run make web and commit consumers/web/dist", name)
		}
	}
}
