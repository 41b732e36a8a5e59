package plugin

import (
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func TestParseSettings(t *testing.T) {
	cfg, n, opts, err := ParseSettings(backend.DataSourceInstanceSettings{Name: "x",
		JSONData:                []byte(`{"url":"wss://r:8443/ws","profile":"sisock","authid":"grafana","nodeTimeout":2.5,"defaultAgg":"minmax"}`),
		DecryptedSecureJSONData: map[string]string{"secret": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "wss://r:8443/ws" || cfg.Realm != "test_realm" || n.Base != "org.simonsobservatory" || cfg.Secret != "pw" ||
		opts.NodeTimeout != 2500*time.Millisecond || opts.DefaultAgg != "minmax" {
		t.Errorf("%+v %+v %+v", cfg, n, opts)
	}
	for _, bad := range []string{`{"urll":"x"}`, `{"profile":"nope"}`, `{"defaultAgg":"median"}`, `{"nodeTimeout":-1}`, `[`} {
		if _, _, _, err := ParseSettings(backend.DataSourceInstanceSettings{JSONData: []byte(bad)}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
