package crossbar

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks that no input makes the conversion panic.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	files = append(files, "../examples/sisock/.crossbar/config.json", "../examples/ocs/.crossbar/config.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	logger := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, b []byte) {
		convert("config.json", b, logger)
	})
}
