package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// TestBadTimes runs a router and a data node as separate processes, the
// node following a CSV file, and appends the rows of issue 13.4 to it: a
// time past 2262 and one a year ahead are refused (the node's
// telemesh_node_sink_errors_total counts them), a millisecond and a
// microsecond epoch are served at their dates, and a value re-emitted
// inside a span a get_data reply called final stays as served.
func TestBadTimes(t *testing.T) {
	s := newStack(t, "telemesh")
	s.router()
	csv := filepath.Join(s.dir, "v.csv")
	health := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf("name: t1\ndata_dir: %s\nstore: {flush_interval: 10s}\nhealth: {listen: %q}\n"+
		"drivers:\n  - {type: file, paths: [%q], delimiter: ',', columns: [{column: 1, field: v}], poll: 50ms}\n",
		filepath.Join(s.dir, "t1"), health, csv)
	path := filepath.Join(s.dir, "t1.yaml")
	if err := os.WriteFile(csv, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	node := start(t, "node t1", "node", "--config", path, "--url", s.url, "--profile", s.profile)

	d, err := wampx.Config{URL: s.url, Realm: s.names.Realm, Timeout: 5 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var c *client.Client
	testutil.Eventually(t, 20*time.Second, "a session", func() bool { c, err = d(context.Background()); return err == nil })
	defer c.Close()
	// values returns v's values in [a, b) and the reply's finalized_until.
	values := func(a, b float64) ([]float64, float64) {
		res, err := c.Call(context.Background(), s.names.GetData("t1"), nil, wamp.List{[]string{"v"}, a, b}, nil, nil)
		if err != nil {
			return nil, 0
		}
		dr, err := protocol.DecodeDataResult(res.Arguments[0])
		if err != nil {
			t.Fatal(err)
		}
		fin := 0.0
		if tl, ok := dr.Timeline["v"]; ok && tl.FinalizedUntil != nil {
			fin = *tl.FinalizedUntil
		}
		return dr.Data["v"].Nums, fin
	}
	sinkErrors := func() int {
		resp, err := http.Get("http://" + health + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "telemesh_node_sink_errors_total "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return -1
	}
	testutil.Eventually(t, 20*time.Second, "the node's metrics", func() bool { return sinkErrors() >= 0 })
	write := func(row string) {
		f, err := os.OpenFile(csv, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(row + "\n")
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Millisecond)
	sec := func(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }
	old := now.Add(-time.Minute)

	// Served at its date, and called final by a reply.
	write(fmt.Sprintf("%.3f,103", sec(old)))
	var fin float64
	testutil.Eventually(t, 20*time.Second, "the old reading", func() bool {
		var v []float64
		v, fin = values(sec(old)-1, sec(now)-30)
		return len(v) == 1
	})
	if fin < sec(old) {
		t.Fatalf("finalized_until %v does not cover %v", fin, sec(old))
	}
	for _, tc := range []struct {
		name, row string
		at        time.Time // where the row lands (zero: it is refused)
		want      float64
	}{
		{"re-emitted inside a finalized span", fmt.Sprintf("%.3f,999", sec(old)), old, 103},
		{"ms epoch", fmt.Sprintf("%d,2", now.UnixMilli()), now, 2},
		{"us epoch", fmt.Sprintf("%d,3", now.Add(time.Millisecond).UnixMicro()), now.Add(time.Millisecond), 3},
		{"beyond 2262", "20000000000,4", time.Time{}, 0},
		{"a year ahead", fmt.Sprintf("%d,5", now.AddDate(1, 0, 0).Unix()), time.Time{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sinkErrors()
			write(tc.row)
			if tc.at.IsZero() || tc.want == 103 {
				testutil.Eventually(t, 20*time.Second, "the row refused", func() bool { return sinkErrors() > before })
			}
			if tc.at.IsZero() {
				return
			}
			testutil.Eventually(t, 20*time.Second, "the value at its date", func() bool {
				v, _ := values(sec(tc.at), sec(tc.at)+1e-6)
				return len(v) == 1 && v[0] == tc.want
			})
		})
	}
	// Nothing but the three readings was stored: nothing wrapped into
	// another date, nothing a year ahead.
	if v, _ := values(1, sec(now.AddDate(2, 0, 0))); len(v) != 3 {
		t.Errorf("stored %v, want [103 2 3]", v)
	}
	for _, want := range []string{"time 20000000000 in seconds (auto-detected)", "outside the plausible window", "inside a span a reply called final"} {
		if !strings.Contains(node.out.String(), want) {
			t.Errorf("node log lacks %q", want)
		}
	}
}
