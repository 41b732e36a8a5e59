package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
)

type timeserie struct {
	Target     string      `json:"target"`
	Datapoints [][]float64 `json:"datapoints"`
}

func postJSON(t testing.TB, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func rfc(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339Nano) }

// loadSeries declares fields on node (one timeline, 1 Hz) and stores
// seconds [start, start+n) of each; value(i, field index) gives the values.
func loadSeries(t testing.TB, s *stack, node string, fields []string, start int64, n int, value func(i, f int) float64) {
	t.Helper()
	var fs []driver.Field
	for _, f := range fields {
		fs = append(fs, driver.Field{Name: f, Units: "u", Timeline: "tl", Interval: time.Second})
	}
	s.Sink(node).Declare(fs...)
	const chunk = 100000
	rs := make([]protocol.Reading, 0, chunk)
	flush := func() {
		cols, err := protocol.Columns(rs)
		if err == nil {
			err = s.Store(node).Append(context.Background(), cols)
		}
		if err != nil {
			t.Fatal(err)
		}
		rs = rs[:0]
	}
	for i := range n {
		for j, f := range fields {
			rs = append(rs, protocol.Reading{Field: f, Time: (start + int64(i)) * 1e9, Value: value(i, j)})
			if len(rs) == chunk {
				flush()
			}
		}
	}
	flush()
	if err := s.Store(node).Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func bridgeURL(t testing.TB, s *stack) string {
	srv, err := bridge.NewServer(bridge.Config{}, s.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestEndToEnd serves two live data nodes (router, hub, nodes on memstores)
// over HTTP: search, a query across both nodes, a field declared after the
// bridge cached the metadata, and 4xx errors.
func TestEndToEnd(t *testing.T) {
	s := startStack(t, stackNode{Name: "sim"}, stackNode{Name: "lab"})
	const start = 1_700_000_000
	loadSeries(t, s, "sim", []string{"temperature", "humidity", "co2"}, start, 600, func(i, f int) float64 { return float64(100*f + i%10) })
	loadSeries(t, s, "lab", []string{"pressure"}, start, 600, func(i, f int) float64 { return 1000 })
	url := bridgeURL(t, s)

	code, b := postJSON(t, url+"/search", `{"target":""}`)
	if code != 200 || string(b) != `["lab::pressure","sim::co2","sim::humidity","sim::temperature"]`+"\n" {
		t.Fatalf("search: %d %s", code, b)
	}
	q := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"intervalMs":1000,"maxDataPoints":60,
		"targets":[{"target":"sim::humidity","refId":"A"},{"target":"lab::pressure","refId":"B"},{"target":"sim::co2","refId":"C","payload":{"agg":"max"}}]}`,
		rfc(start), rfc(start+600))
	code, b = postJSON(t, url+"/query", q)
	var out []timeserie
	if code != 200 || json.Unmarshal(b, &out) != nil || len(out) != 3 {
		t.Fatalf("query: %d %s", code, b)
	}
	for i, want := range []struct {
		target string
		first  float64
	}{{"sim::humidity", 104.5}, {"lab::pressure", 1000}, {"sim::co2", 209}} {
		se := out[i]
		if se.Target != want.target || len(se.Datapoints) == 0 || len(se.Datapoints) > 60 || se.Datapoints[0][0] != want.first {
			t.Errorf("%s: got %s with %d points, first %v, want first %v", want.target, se.Target, len(se.Datapoints), se.Datapoints, want.first)
		}
		if ts := se.Datapoints[0][1]; ts > start*1000 || ts <= (start-15)*1000 {
			t.Errorf("%s: first time %v, want the 15 s bucket holding %v", want.target, se.Datapoints[0][1], start*1000)
		}
	}

	// A field that appears after the bridge cached the node's metadata.
	loadSeries(t, s, "lab", []string{"pressure", "flow"}, start, 600, func(i, f int) float64 { return float64(f) })
	code, b = postJSON(t, url+"/query", fmt.Sprintf(`{"range":{"from":%q,"to":%q},"maxDataPoints":10,"targets":[{"target":"lab::flow","refId":"A"}]}`, rfc(start), rfc(start+600)))
	if code != 200 || json.Unmarshal(b, &out) != nil || len(out) != 1 || len(out[0].Datapoints) == 0 {
		t.Fatalf("new field: %d %s", code, b)
	}

	for _, c := range []struct {
		body string
		code int
	}{
		{`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"targets":[{"target":"ghost::x"}]}`, 404},
		{`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"targets":[{"target":"sim::nope"}]}`, 404},
		{`{"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T22:23:20Z"},"targets":[{"target":"sim::co2","payload":{"agg":"median"}}]}`, 400},
		{`{"range":{"from":"0001-01-01T00:00:00Z","to":"2023-11-14T22:23:20Z"},"targets":[{"target":"sim::co2"}]}`, 400},
		{`[1,2`, 400},
	} {
		code, b := postJSON(t, url+"/query", c.body)
		var e struct{ Error string }
		if code != c.code || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want %d with an error", c.body, code, b, c.code)
		}
	}
}

// TestSevenDayPanel: a 7-day panel at 1 Hz with maxDataPoints=1000 from a
// real data node never gets more than 1000 points per series (2000 with
// minmax), and minmax keeps a one-second spike.
func TestSevenDayPanel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 604800 readings")
	}
	s := startStack(t, stackNode{Name: "sim"})
	const days = 7
	end := time.Now().Truncate(time.Second).Unix()
	start := end - days*86400
	spike := 3*86400 + 12345
	loadSeries(t, s, "sim", []string{"temperature"}, start, days*86400, func(i, f int) float64 {
		if i == spike {
			return 1e6
		}
		return 20
	})
	url := bridgeURL(t, s)
	for _, c := range []struct {
		agg   string
		limit int
		spike bool
	}{{"mean", 1000, false}, {"max", 1000, true}, {"minmax", 2000, true}} {
		body := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"interval":"10m","intervalMs":600000,"maxDataPoints":1000,
			"targets":[{"target":"sim::temperature","refId":"A","payload":{"agg":%q}}]}`, rfc(start), rfc(end), c.agg)
		code, b := postJSON(t, url+"/query", body)
		var out []timeserie
		if code != 200 || json.Unmarshal(b, &out) != nil || len(out) != 1 {
			t.Fatalf("%s: %d %.300s", c.agg, code, b)
		}
		n := len(out[0].Datapoints)
		if n < 500 || n > c.limit {
			t.Errorf("%s: %d points, want 500..%d", c.agg, n, c.limit)
		}
		max := 0.0
		for _, dp := range out[0].Datapoints {
			max = maxf(max, dp[0])
		}
		if c.spike != (max == 1e6) {
			t.Errorf("%s: max %v, spike kept %v, want %v", c.agg, max, max == 1e6, c.spike)
		}
	}
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}
