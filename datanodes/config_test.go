package datanodes

import (
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig("testdata/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := c.Names()
	if n != protocol.SisockNames() || c.Router.Realm != protocol.SisockRealm {
		t.Errorf("names %v, router realm %q", n, c.Router.Realm)
	}
	if c.Store.FlushInterval.D() != 500*time.Millisecond || c.Store.Retention["raw"].D() != 30*24*time.Hour {
		t.Errorf("store %+v", c.Store)
	}
	if c.MaxReplyBytes != DefaultMaxReplyBytes || c.Live.MaxBatch != DefaultLiveBatch || c.Live.Interval.D() != 100*time.Millisecond {
		t.Errorf("defaults not set: %+v", c)
	}
	if len(c.Drivers) != 1 || c.Drivers[0].Type != "sim" || !strings.Contains(string(c.Drivers[0].Block), "backfill: 1d") {
		t.Errorf("drivers %+v", c.Drivers)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for file, want := range map[string]string{
		"unknown_key.yaml":        "colour",
		"driver_unknown_key.yaml": "intervall",
		"bad_driver.yaml":         "nosuch",
		"bad_name.yaml":           "lab one",
		"missing.yaml":            "no such file",
	} {
		_, err := LoadConfig("testdata/" + file)
		if err == nil || !strings.Contains(err.Error(), want) || (file != "missing.yaml" && !strings.Contains(err.Error(), file)) {
			t.Errorf("%s: error %v, want one naming %q and the file", file, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "250ms": 250 * time.Millisecond} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseDuration("xd"); err == nil {
		t.Error("xd accepted")
	}
}
