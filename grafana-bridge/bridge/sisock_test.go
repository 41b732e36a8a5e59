package bridge_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestSisockNode serves a sisock-style data node written in Python with
// autobahn, whose get_data knows neither max_points nor agg and returns
// every sample: the bridge still caps the points per series and keeps the
// spike with minmax.
func TestSisockNode(t *testing.T) {
	s := startStack(t)
	const start, span = 1_700_000_000, 7200
	spike := start + 3333
	testutil.SisockNode(t, s.URL, s.Names.Realm, s.Names.Base, "pynode", "--spike", fmt.Sprint(spike))
	s.WaitNodes(t, 1)
	url := bridgeURL(t, s)
	for _, c := range []struct {
		agg   string
		limit int
		spike bool
	}{{"mean", 100, false}, {"minmax", 200, true}, {"max", 100, true}} {
		body := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"maxDataPoints":100,"targets":[{"target":"pynode::temp","refId":"A","payload":{"agg":%q}}]}`,
			rfc(start), rfc(start+span), c.agg)
		code, b := postJSON(t, url+"/query", body)
		var out []timeserie
		if code != 200 || json.Unmarshal(b, &out) != nil || len(out) != 1 {
			t.Fatalf("%s: %d %.300s", c.agg, code, b)
		}
		n := len(out[0].Datapoints)
		max := 0.0
		for _, dp := range out[0].Datapoints {
			max = maxf(max, dp[0])
		}
		if n < 50 || n > c.limit || (max == 99) != c.spike {
			t.Errorf("%s: %d points (limit %d), max %v", c.agg, n, c.limit, max)
		}
	}
}
