package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestNumberFormat checks the dashboard's fmtValue against
// testdata/numbers.json, the golden file the CLI's number formatting is
// also tested against, so get, tail and the dashboard print alike.
func TestNumberFormat(t *testing.T) {
	nodeBin := testutil.Need(t, "node")
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("src", "data.js"))
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(dir, "data.mjs")
	if err := os.WriteFile(mod, src, 0o644); err != nil {
		t.Fatal(err)
	}
	golden, err := filepath.Abs(filepath.Join("testdata", "numbers.json"))
	if err != nil {
		t.Fatal(err)
	}
	script := `import { fmtValue } from ` + quote(mod) + `;
import { readFileSync } from 'node:fs';
const bad = JSON.parse(readFileSync(` + quote(golden) + `, 'utf8')).filter(([v, want]) => fmtValue(v) !== want)
  .map(([v, want]) => v + ': got ' + fmtValue(v) + ', want ' + want);
if (bad.length) { console.log(bad.join('\n')); process.exit(1); }`
	out, err := exec.Command(nodeBin, "--input-type=module", "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("fmtValue differs from testdata/numbers.json: %v\n%s", err, out)
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
