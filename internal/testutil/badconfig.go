package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BadConfigs loads every testdata/*.bad.yaml with load and checks the
// error it must give: one naming the file and holding each "# want:" line
// of the file (the prometheus good/bad testdata pattern). With oneLine,
// the error also has exactly one line per problem.
func BadConfigs(t *testing.T, oneLine bool, load func(path string) error) {
	t.Helper()
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata/*.bad.yaml", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			err = load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			wants := 0
			for _, line := range strings.Split(string(b), "\n") {
				want, ok := strings.CutPrefix(line, "# want: ")
				if !ok {
					continue
				}
				wants++
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); oneLine && n != wants {
				t.Errorf("%d lines for %d problems:\n%v", n, wants, err)
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}
