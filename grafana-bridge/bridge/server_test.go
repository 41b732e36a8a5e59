package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current responses")

func newTestServer(t *testing.T, cfg Config, src Source) *httptest.Server {
	t.Helper()
	s, err := NewServer(cfg, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func post(t *testing.T, url string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return resp.StatusCode, buf.Bytes()
}

// diff walks two decoded JSON values and reports every differing path.
func diff(path string, got, want any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: got %v, want an object", path, got))
			return
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			diff(path+"."+k, g[k], w[k], out)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: got %v, want an array", path, got))
			return
		}
		if len(g) != len(w) {
			*out = append(*out, fmt.Sprintf("%s: got %d elements, want %d", path, len(g), len(w)))
		}
		for i := 0; i < len(g) && i < len(w); i++ {
			diff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], out)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, got, want))
		}
	}
}

// TestGolden sends recorded Grafana request bodies of both protocols and
// compares the responses field by field with testdata/golden.
func TestGolden(t *testing.T) {
	ts := newTestServer(t, Config{}, newFakeSource())
	cases := []struct{ name, path string }{
		{"simplejson_search", "/search"},
		{"simplejson_search_all", "/search"},
		{"simplejson_search_nodes", "/search"},
		{"simplejson_query_timeserie", "/query"},
		{"simplejson_query_table", "/query"},
		{"simplejson_query_adhoc", "/query"},
		{"simplejson_annotations", "/annotations"},
		{"simplejson_tag_keys", "/tag-keys"},
		{"simplejson_tag_values", "/tag-values"},
		{"simpod_metrics", "/metrics"},
		{"simpod_metric_payload_options", "/metric-payload-options"},
		{"simpod_variable_fields", "/variable"},
		{"simpod_variable_nodes", "/variable"},
		{"simpod_query_payload", "/query"},
		{"simpod_query_annotations", "/query"},
		{"simpod_query_multivalue", "/query"},
		{"simplejson_query_all", "/query"},
		{"simpod_query_numeric_filters", "/query"},
		{"simpod_query_bad_target", "/query"},
		{"simplejson_annotations_limit", "/annotations"},
		{"simplejson_annotations_alarms", "/annotations"},
		{"error_malformed", "/query"},
		{"error_unknown_field", "/query"},
		{"error_unknown_node", "/query"},
		{"error_bad_target", "/query"},
		{"error_range_reversed", "/query"},
		{"error_range_huge", "/query"},
		{"error_range_garbage", "/query"},
		{"error_bad_agg", "/query"},
		{"error_range_future", "/query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "requests", c.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			code, resp := post(t, ts.URL+c.path, body)
			var gotBody any
			if err := json.Unmarshal(resp, &gotBody); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, resp)
			}
			got := map[string]any{"status": float64(code), "body": gotBody}
			golden := filepath.Join("testdata", "golden", c.name+".json")
			if *update {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			var want any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			var diffs []string
			diff("$", got, want, &diffs)
			for _, d := range diffs {
				t.Error(d)
			}
			if strings.HasPrefix(c.name, "error_") && (code < 400 || code >= 500) {
				t.Errorf("status %d, want 4xx", code)
			}
		})
	}
}

func TestServeRootHealthCORSAndPrometheus(t *testing.T) {
	ts := newTestServer(t, Config{}, newFakeSource())
	do := func(ts *httptest.Server, method, path, origin string) (*http.Response, string) {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		return resp, buf.String()
	}
	for _, c := range []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/", 200, `"status":"ok"`},
		{"GET", "/healthz", 200, `"nodes":2`},
		{"GET", "/nope", 404, `"error"`},
		{"GET", "/query", 404, `"error"`},
	} {
		resp, body := do(ts, c.method, c.path, "http://evil.example")
		if resp.StatusCode != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, resp.StatusCode, body, c.code, c.contains)
		}
		// CORS is off unless configured: no other origin may read answers.
		if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
			t.Errorf("%s %s: CORS header %q without CORS configured", c.method, c.path, h)
		}
	}
	// With CORS configured, only the listed origin is answered.
	cts := newTestServer(t, Config{CORSOrigins: []string{"https://grafana.lab"}}, newFakeSource())
	resp, _ := do(cts, "OPTIONS", "/annotations", "https://grafana.lab")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://grafana.lab" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "content-type") {
		t.Errorf("OPTIONS from the allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(cts, "GET", "/", "http://evil.example")
	if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("GET from another origin: CORS header %q", h)
	}
	any := newTestServer(t, Config{CORSOrigins: []string{"*"}}, newFakeSource())
	if resp, _ = do(any, "GET", "/", "http://x"); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS *: %v", resp.Header)
	}
	// One query, then GET /metrics carries its counter.
	post(t, ts.URL+"/search", []byte(`{"target":""}`))
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(buf.String(), `telemesh_bridge_requests_total{code="200",endpoint="search"} 1`) {
		t.Errorf("GET /metrics lacks the search counter:\n%s", buf.String())
	}
}

func TestAuth(t *testing.T) {
	ts := newTestServer(t, Config{AuthToken: "s3cret", BasicUser: "grafana", BasicPassword: "pw"}, newFakeSource())
	body := []byte(`{"target":""}`)
	for _, c := range []struct {
		name string
		hdr  []string
		code int
	}{
		{"none", nil, 401},
		{"bearer", []string{"Authorization", "Bearer s3cret"}, 200},
		{"wrong bearer", []string{"Authorization", "Bearer nope"}, 401},
		{"basic", []string{"Authorization", "Basic Z3JhZmFuYTpwdw=="}, 200},
		{"wrong basic", []string{"Authorization", "Basic Z3JhZmFuYTp4"}, 401},
	} {
		code, resp := post(t, ts.URL+"/search", body, c.hdr...)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, resp, c.code)
		}
	}
	if resp, err := http.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz must stay open: %v %v", resp, err)
	}
}

// TestStaleMetadataRefresh: a field the cache does not know yet triggers a
// get_fields refresh instead of an empty series.
func TestStaleMetadataRefresh(t *testing.T) {
	src := newFakeSource()
	ts := newTestServer(t, Config{}, src)
	q := func(target string) (int, []byte) {
		return post(t, ts.URL+"/query", []byte(`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"maxDataPoints":100,"targets":[{"target":"`+target+`","refId":"A"}]}`))
	}
	if code, b := q("sim::temperature"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	// The node restarts with a new field.
	src.mu.Lock()
	src.nodes["sim"]["pressure"] = fakeField{src.nodes["lab"]["pressure"].info, 10, func(float64) any { return 1000.0 }}
	src.mu.Unlock()
	code, b := q("sim::pressure")
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var out []timeserie
	json.Unmarshal(b, &out)
	if len(out) != 1 || len(out[0].Datapoints) != 60 {
		t.Fatalf("got %s, want 60 points of the new field", b)
	}
}

// TestNodeTimeout: a node that does not answer fails its own targets
// within the per-node timeout (503 when it is the only one), the others
// are answered, and the bridge keeps serving.
func TestNodeTimeout(t *testing.T) {
	src := newFakeSource()
	src.block["lab"] = true
	ts := newTestServer(t, Config{Options: Options{NodeTimeout: 200 * time.Millisecond}}, src)
	code, b := post(t, ts.URL+"/query", []byte(`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"maxDataPoints":100,"targets":[{"target":"sim::co2","refId":"A"},{"target":"lab::pressure","refId":"B"}]}`))
	var out []struct {
		RefID      string `json:"refId"`
		Datapoints []any  `json:"datapoints"`
		Meta       struct {
			Notices []notice `json:"notices"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(b, &out); err != nil || code != 200 || len(out) != 2 {
		t.Fatalf("%d %s, want A answered and B failed", code, b)
	}
	if out[0].RefID != "A" || len(out[0].Datapoints) == 0 || out[1].RefID != "B" || len(out[1].Meta.Notices) != 1 ||
		out[1].Meta.Notices[0].Severity != "error" || !strings.Contains(out[1].Meta.Notices[0].Text, "lab") {
		t.Errorf("%s", b)
	}
	code, b = post(t, ts.URL+"/query", []byte(`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"maxDataPoints":100,"targets":[{"target":"lab::pressure","refId":"B"}]}`))
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "lab") {
		t.Fatalf("%d %s, want 503 naming lab", code, b)
	}
	if code, _ := post(t, ts.URL+"/search", []byte(`{}`)); code != 200 {
		t.Fatalf("search after timeout: %d", code)
	}
}

func TestBodyTooLarge(t *testing.T) {
	ts := newTestServer(t, Config{MaxBodyBytes: 64}, newFakeSource())
	code, b := post(t, ts.URL+"/query", []byte(`{"targets":[`+strings.Repeat(`{"target":"sim::co2"},`, 20)+`{}]}`))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "error") {
		t.Fatalf("%d %s", code, b)
	}
}

// TestSevenDaysMaxDataPoints: a 7-day panel at 1 Hz with maxDataPoints=1000
// never gets more than 1000 points per series (2000 with minmax), and
// minmax keeps a one-sample spike.
func TestSevenDaysMaxDataPoints(t *testing.T) {
	src := newFakeSource()
	const spikeAt = t0 + 3*86400 + 12345
	src.nodes["sim"]["fast"] = fakeField{src.nodes["sim"]["co2"].info, 1, func(tt float64) any {
		if tt == spikeAt {
			return 1e6
		}
		return 400.0
	}}
	f := src.nodes["sim"]["fast"]
	f.info.Timeline = "fast"
	src.nodes["sim"]["fast"] = f
	ts := newTestServer(t, Config{}, src)
	for _, c := range []struct {
		agg   string
		limit int
		spike bool
	}{{"mean", 1000, false}, {"max", 1000, true}, {"minmax", 2000, true}} {
		body := fmt.Sprintf(`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-21T22:13:20Z"},"interval":"10m","intervalMs":600000,"maxDataPoints":1000,
			"targets":[{"target":"sim::fast","refId":"A","payload":{"agg":%q}}]}`, c.agg)
		code, b := post(t, ts.URL+"/query", []byte(body))
		if code != 200 {
			t.Fatalf("%s: %d %s", c.agg, code, b)
		}
		var out []timeserie
		if err := json.Unmarshal(b, &out); err != nil || len(out) != 1 {
			t.Fatalf("%s: %v %s", c.agg, err, b)
		}
		n := len(out[0].Datapoints)
		if n == 0 || n > c.limit {
			t.Errorf("%s: %d points, want 1..%d", c.agg, n, c.limit)
		}
		max := 0.0
		for _, dp := range out[0].Datapoints {
			if v := dp[0].(float64); v > max {
				max = v
			}
		}
		if c.spike && max != 1e6 {
			t.Errorf("%s: spike lost, max %v", c.agg, max)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	s, err := NewServer(Config{Listen: "127.0.0.1:0"}, newFakeSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	resp, err := http.Get("http://" + s.Addr().String() + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{TLSCert: "a"}, {BasicUser: "u"}, {Options: Options{DefaultAgg: "median"}}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
