package archive_test

import (
	"github.com/telemesh/telemesh/internal/testutil"
	"strings"
	"testing"

	"github.com/telemesh/telemesh/archive"
)

// TestLoadConfigBad loads every testdata/*.bad.yaml: the error names the
// file and holds each "# want:" line, one line per problem.
func TestLoadConfigBad(t *testing.T) {
	testutil.BadConfigs(t, true, func(f string) error {
		_, _, err := archive.LoadConfig(f)
		return err
	})
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
