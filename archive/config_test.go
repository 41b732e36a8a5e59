package archive_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/archive"
)

// TestLoadConfigBad loads every testdata/*.bad.yaml: the error names the
// file and holds each "# want:" line, one line per problem.
func TestLoadConfigBad(t *testing.T) {
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
			_, _, err = archive.LoadConfig(f)
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
			if n := len(strings.Split(err.Error(), "\n")); n != wants {
				t.Errorf("%d lines for %d problems:\n%v", n, wants, err)
			}
			if !strings.HasPrefix(err.Error(), f+": ") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestLoadConfigGood(t *testing.T) {
	c, sinks, err := archive.LoadConfig("testdata/archive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	if len(sinks) != 3 || c.Window.D().Minutes() != 10 || c.BatchSize != 5000 {
		t.Errorf("decoded %+v with %d sinks", c, len(sinks))
	}
	var names []string
	for _, t := range archive.SinkTypes() {
		names = append(names, t.Name)
	}
	if strings.Join(names, ",") != "influx,postgres" {
		t.Errorf("sink types %v", names)
	}
}
