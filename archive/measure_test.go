package archive_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/sinktest"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/internal/testutil"
)

// measureEnv turns on TestMeasure, which reports the archiver's figures
// (it takes minutes and the machine's attention, so it is not a test to
// run by default).
const measureEnv = "TELEMESH_ARCHIVE_MEASURE"

func needMeasure(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skipf("set %s=1 to measure", measureEnv)
	}
}

// procKB reads a /proc/<pid>/status figure (VmRSS, VmHWM) in KiB.
func procKB(pid int, key string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			var n int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &n)
			return n
		}
	}
	return 0
}

// TestMeasureWriteRate writes 200,000 points in batches of 5000 into each
// engine through its sink.
func TestMeasureWriteRate(t *testing.T) {
	needMeasure(t)
	for _, c := range []struct {
		name  string
		start func(testing.TB) *sinktest.Engine
		block func(*sinktest.Engine) string
	}{
		{"victoria-metrics", sinktest.VictoriaMetrics, func(e *sinktest.Engine) string { return "api: vm\nurl: " + e.URL }},
		{"influxdb", sinktest.InfluxDB, func(e *sinktest.Engine) string { return "url: " + e.URL }},
		{"postgres", sinktest.Postgres, func(e *sinktest.Engine) string { return "dsn: " + e.URL }},
	} {
		e := c.start(t)
		typ := "influx"
		if c.name == "postgres" {
			typ = "postgres"
		}
		cfg, sinks, err := archive.ParseConfig(strings.NewReader(fmt.Sprintf("data_dir: /tmp\nsinks:\n  - type: %s\n    name: s\n    %s\n", typ, strings.ReplaceAll(c.block(e), "\n", "\n    "))))
		if err != nil {
			t.Fatal(err, cfg)
		}
		sk := sinks["s"]
		fields := make([]string, 10)
		for i := range fields {
			fields[i] = fmt.Sprintf("f%d", i)
		}
		pts := sinktest.Points([]string{"n1", "n2"}, fields, time.Now().Add(-3*time.Hour), 10000)
		start := time.Now()
		for i := 0; i < len(pts); i += 5000 {
			if err := sk.Write(context.Background(), pts[i:i+5000]); err != nil {
				t.Fatal(err)
			}
		}
		d := time.Since(start)
		t.Logf("MEASURE %s: %d points in %v: %.0f points/s (one writer, batches of 5000)", c.name, len(pts), d.Round(time.Millisecond), float64(len(pts))/d.Seconds())
		sk.Close()
		e.Stop()
	}
}

// TestMeasureCatchUp archives a node's last hour (10 fields at 10 Hz, as
// after a one-hour outage) with an archiver process, and reports how fast
// it caught up and its memory.
func TestMeasureCatchUp(t *testing.T) {
	needMeasure(t)
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t)}
	n := simNode{name: "n1", dir: t.TempDir(), fields: 10, interval: 100 * time.Millisecond, backfill: "1h"}
	rt, cl, _ := deployment(t, n)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	file := archiverConfig(t, t.TempDir(), addr, engines, "")
	start := time.Now()
	c := startChild(t, file, rt.URL(), addr)
	target := now()
	testutil.Eventually(t, 10*time.Minute, "caught up", func() bool { return cursorOf(c.status(), "vm", "n1") >= target })
	d := time.Since(start)
	w := sinkStatus(c.status(), "vm").Written
	t.Logf("MEASURE catch-up of 1 h × 10 fields × 10 Hz into victoria-metrics: %d points in %v: %.0f points/s, %.0f× real time; archiver VmHWM %d MiB, VmRSS %d MiB",
		w, d.Round(time.Millisecond), float64(w)/d.Seconds(), 3600/d.Seconds(), procKB(c.cmd.Process.Pid, "VmHWM")/1024, procKB(c.cmd.Process.Pid, "VmRSS")/1024)
	checkArchived(t, c.status, cl, n, target, engines, time.Minute)
}

// TestMeasureLoad runs many nodes × 10 fields at 1 Hz (200 nodes by
// default, TELEMESH_ARCHIVE_NODES to change) into VictoriaMetrics through
// an archiver process and reports the lag it holds and its memory.
func TestMeasureLoad(t *testing.T) {
	needMeasure(t)
	nodes := 200
	if v := os.Getenv("TELEMESH_ARCHIVE_NODES"); v != "" {
		fmt.Sscan(v, &nodes)
	}
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t)}
	rt := startRouter(t)
	startHub(t, rt.URL())
	var b strings.Builder
	b.WriteString("interval: 1s\ntimeline: sim\nfields:\n")
	for i := range 10 {
		fmt.Fprintf(&b, "  - {name: f%d, base: %d, noise: 1}\n", i, i)
	}
	for i := range nodes {
		cfg := datanodes.Config{Name: fmt.Sprintf("load%03d", i), Drivers: []datanodes.DriverConfig{{Type: "sim", Block: []byte(b.String())}}}
		node, err := datanodes.New(cfg, dialer(t, rt.URL()), memstore.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		serve(t, node.Run)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	file := archiverConfig(t, t.TempDir(), addr, engines, "")
	c := startChild(t, file, rt.URL(), addr)
	testutil.Eventually(t, 3*time.Minute, "every node archived", func() bool {
		ns := sinkStatus(c.status(), "vm").Nodes
		if len(ns) < nodes {
			return false
		}
		for _, n := range ns {
			if n.CatchingUp || n.Lag < 0 {
				return false
			}
		}
		return true
	})
	var lags, clags []float64
	w0 := sinkStatus(c.status(), "vm").Written
	t0 := time.Now()
	for range 30 {
		time.Sleep(time.Second)
		for _, n := range sinkStatus(c.status(), "vm").Nodes {
			lags = append(lags, n.Lag)
			clags = append(clags, n.CursorLag)
		}
	}
	rate := float64(sinkStatus(c.status(), "vm").Written-w0) / time.Since(t0).Seconds()
	sort.Float64s(lags)
	sort.Float64s(clags)
	q := func(v []float64, p float64) float64 { return v[int(p*float64(len(v)-1))] }
	t.Logf("MEASURE %d nodes × 10 fields × 1 Hz into victoria-metrics: %.0f points/s written; lag p50 %.2fs p99 %.2fs max %.2fs; cursor lag p50 %.2fs max %.2fs; archiver VmHWM %d MiB, VmRSS %d MiB",
		nodes, rate, q(lags, .5), q(lags, .99), lags[len(lags)-1], q(clags, .5), clags[len(clags)-1],
		procKB(c.cmd.Process.Pid, "VmHWM")/1024, procKB(c.cmd.Process.Pid, "VmRSS")/1024)
}
