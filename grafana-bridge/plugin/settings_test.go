package plugin

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/tls/pki"
)

func TestParseSettings(t *testing.T) {
	p, err := ParseSettings(backend.DataSourceInstanceSettings{Name: "x",
		JSONData:                []byte(`{"url":"wss://r:8443/ws","profile":"sisock","authid":"grafana","nodeTimeout":2.5,"defaultAgg":"minmax","serializer":"cbor"}`),
		DecryptedSecureJSONData: map[string]string{"secret": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, n, opts := p.Config, p.Names, p.Options
	if cfg.URL != "wss://r:8443/ws" || cfg.Realm != "test_realm" || n.Base != "org.simonsobservatory" || cfg.Secret != "pw" ||
		opts.NodeTimeout != 2500*time.Millisecond || opts.DefaultAgg != "minmax" || cfg.Serializer != "cbor" || len(p.Warnings) != 0 {
		t.Errorf("%+v %+v %+v %v", cfg, n, opts, p.Warnings)
	}
}

// TestParseSettingsLenient: provisioning templated from the environment
// gives numbers and booleans as strings, and stray keys; both are taken.
func TestParseSettingsLenient(t *testing.T) {
	for _, tc := range []struct {
		json     string
		timeout  time.Duration
		warnings string
	}{
		{`{"nodeTimeout":"10"}`, 10 * time.Second, ""},
		{`{"nodeTimeout":" 2.5 ","tlsSkipVerify":"false"}`, 2500 * time.Millisecond, ""},
		{`{"nodeTimeout":""}`, 0, ""},
		{`{"nodeTimeout":null,"url":null}`, 0, ""},
		{`{"tlsSkipVerify":true,"url":"wss://x/ws"}`, 0, ""},
		{`{"tlsSkipVerify":1}`, 0, ""},
		{`{"urll":"x","zz":1}`, 0, `unknown setting "urll" ignored; unknown setting "zz" ignored`},
		{`{"oauthPassThru":false,"httpMethod":"POST"}`, 0, ""},
		{``, 0, ""},
		{`null`, 0, ""},
	} {
		p, err := ParseSettings(backend.DataSourceInstanceSettings{Name: "x", JSONData: []byte(tc.json)})
		if err != nil {
			t.Errorf("%s: %v", tc.json, err)
			continue
		}
		if p.Options.NodeTimeout != tc.timeout || strings.Join(p.Warnings, "; ") != tc.warnings {
			t.Errorf("%s: timeout %v warnings %q, want %v %q", tc.json, p.Options.NodeTimeout, p.Warnings, tc.timeout, tc.warnings)
		}
	}
	p, _ := ParseSettings(backend.DataSourceInstanceSettings{JSONData: []byte(`{"url":"wss://x/ws","tlsSkipVerify":"true"}`)})
	if p.Config.TLS == nil || !p.Config.TLS.InsecureSkipVerify {
		t.Errorf("tlsSkipVerify string: %+v", p.Config.TLS)
	}
}

// TestParseSettingsErrors: every unusable setting is named, all at once.
func TestParseSettingsErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"profile":"nope"}`, "profile: "},
		{`{"defaultAgg":"median"}`, `defaultAgg: unknown aggregation "median"`},
		{`{"nodeTimeout":-1}`, "nodeTimeout: -1 is negative"},
		{`{"nodeTimeout":"ten"}`, `nodeTimeout: "ten" is not a number`},
		{`{"tlsSkipVerify":"maybe"}`, `tlsSkipVerify: "maybe" is not true or false`},
		{`{"url":["a"]}`, "url: want a string"},
		{`{"serializer":"xml"}`, `unknown serializer "xml"`},
		{`{"authmethod":"ticket"}`, "authmethod ticket needs an authid"},
		{`{"tlsAuthWithCACert":true}`, "tlsCACert: no PEM certificate"},
		{`{"tlsAuth":true}`, "tlsClientCert/tlsClientKey"},
		{`[`, "jsonData is not a JSON object"},
		{`{"nodeTimeout":"x","defaultAgg":"median"}`, `nodeTimeout: "x" is not a number` + "\n" + `defaultAgg: unknown aggregation "median"`},
	} {
		_, err := ParseSettings(backend.DataSourceInstanceSettings{Name: "lab", JSONData: []byte(tc.json)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "datasource lab settings: ") {
			t.Errorf("%s: %v, want %q", tc.json, err, tc.want)
		}
	}
}

// TestParseSettingsInlineTLS: an inline CA and a client certificate from
// secureJsonData end up in the TLS client configuration.
func TestParseSettingsInlineTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	p, err := ParseSettings(backend.DataSourceInstanceSettings{
		JSONData:                []byte(`{"url":"wss://r/ws","tlsAuth":true,"tlsAuthWithCACert":"true","serverName":"router"}`),
		DecryptedSecureJSONData: map[string]string{"tlsCACert": certPEM, "tlsClientCert": certPEM, "tlsClientKey": keyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	tc := p.Config.TLS
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "router" || tc.InsecureSkipVerify || tc.MinVersion < tls.VersionTLS12 {
		t.Errorf("tls config %+v", tc)
	}
}

// TestBrokenSettingsHealth: bad settings still make an instance; its health
// check says what is wrong and its queries fail one by one, not as RPC
// errors.
func TestBrokenSettingsHealth(t *testing.T) {
	connected := false
	factory := NewFactory(func(context.Context, Parsed) (bridge.Source, func(), error) {
		connected = true
		return nil, nil, nil
	}, nil)
	inst, err := factory(context.Background(), backend.DataSourceInstanceSettings{Name: "lab", UID: "u",
		JSONData: []byte(`{"nodeTimeout":"soon","extra":1}`)})
	if err != nil || connected {
		t.Fatalf("factory: %v connected=%v", err, connected)
	}
	d := inst.(*Datasource)
	h, err := d.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
	if err != nil || h.Status != backend.HealthStatusError ||
		h.Message != `telemesh: datasource lab settings: nodeTimeout: "soon" is not a number; warnings: unknown setting "extra" ignored` {
		t.Errorf("health %v %+v", err, h)
	}
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{RefID: "A"}, {RefID: "B"}}})
	if err != nil || len(resp.Responses) != 2 {
		t.Fatalf("query: %v %v", err, resp)
	}
	for ref, r := range resp.Responses {
		if r.Error == nil || !strings.Contains(r.Error.Error(), "nodeTimeout") || r.Status != backend.StatusBadRequest {
			t.Errorf("%s: %+v", ref, r)
		}
	}
}

// selfSigned returns a PEM certificate and key made by the project's PKI.
func selfSigned(t *testing.T) (string, string) {
	t.Helper()
	paths, err := pki.Init(t.TempDir(), pki.Options{CN: "router"})
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return read(paths.Cert), read(paths.Key)
}
