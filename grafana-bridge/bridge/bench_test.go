package bridge_test

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/sqlite"
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
