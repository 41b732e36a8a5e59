package bridge_test

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/protocol"
)

// BenchmarkQuery measures POST /query latency for 10 fields (5 on each of
// 2 data nodes on SQLite) at 1 Hz with maxDataPoints=1000, over the last 7
// and 30 days of 30 days of history. It reports p50 and p99 in ms; run with
// e.g. -benchtime 50x. Loading the history (26M readings) takes a while.
func BenchmarkQuery(b *testing.B) {
	days := 30
	if testing.Short() {
		days = 7
	}
	dir := b.TempDir()
	var nodes []stackNode
	for _, name := range []string{"n1", "n2"} {
		st, err := sqlite.Open(filepath.Join(dir, name+".db"), sqlite.Options{FlushRows: 100000}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		nodes = append(nodes, stackNode{Name: name, Store: st})
	}
	s := startStack(b, nodes...)
	fields := []string{"f0", "f1", "f2", "f3", "f4"}
	end := time.Now().Truncate(time.Hour).Unix()
	start := end - int64(days)*86400
	loadStart := time.Now()
	for _, n := range nodes {
		loadSeries(b, s, n.Name, fields, start, days*86400, func(i, f int) float64 {
			return float64(f) + math.Sin(float64(i)/3600)
		})
	}
	b.Logf("loaded %d readings in %s", 2*len(fields)*days*86400, time.Since(loadStart).Round(time.Second))
	url := bridgeURL(b, s)
	var targets []string
	for _, n := range nodes {
		for _, f := range fields {
			targets = append(targets, fmt.Sprintf(`{"target":"%s::%s","refId":"%s%s"}`, n.Name, f, n.Name, f))
		}
	}
	for _, span := range []int{7, 30} {
		if span > days {
			continue
		}
		body := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"maxDataPoints":1000,"targets":[%s]}`,
			rfc(end-int64(span)*86400), rfc(end), strings.Join(targets, ","))
		b.Run(fmt.Sprintf("%dd", span), func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t := time.Now()
				code, resp := postJSON(b, url+"/query", body)
				lat = append(lat, time.Since(t))
				if code != 200 {
					b.Fatalf("%d %.300s", code, resp)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(p float64) float64 {
				return float64(lat[int(math.Ceil(p*float64(len(lat))))-1].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// BenchmarkAnnotations measures POST /annotations over one day of a 1 Hz
// field on a memstore node, side by side: "values" for a field without
// limits (value events at one-second resolution, the older path) and
// "limits" for the same readings with limits (a raw scan of 86 400
// readings through the limit tracker). Run with -count to interleave.
func BenchmarkAnnotations(b *testing.B) {
	s := startStack(b, stackNode{Name: "n1"})
	end := time.Now().Truncate(time.Hour).Unix()
	start := end - 86400
	// A value swinging through the bounds about once an hour, with noise.
	loadSeries(b, s, "n1", []string{"plain", "limited"}, start, 86400, func(i, f int) float64 {
		return 22 + 10*math.Sin(float64(i)/600) + float64(i%7)/10
	})
	p := func(v float64) *float64 { return &v }
	s.Sink("n1").Declare(driver.Field{Name: "limited", Units: "u", Timeline: "tl", Interval: time.Second,
		Limits: &protocol.Limits{Warning: &protocol.Range{Low: p(18), High: p(26)}, Alarm: &protocol.Range{Low: p(15), High: p(30)}, Hysteresis: 0.5}})
	url := bridgeURL(b, s)
	for range 3 {
		for _, c := range []struct{ name, field string }{{"values", "plain"}, {"limits", "limited"}} {
			body := fmt.Sprintf(`{"range":{"from":%q,"to":%q},"annotation":{"query":"n1::%s"}}`, rfc(start), rfc(end), c.field)
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					if code, resp := postJSON(b, url+"/annotations", body); code != 200 {
						b.Fatalf("%d %.300s", code, resp)
					}
				}
			})
		}
	}
}
