package archive_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/sinktest"
	"github.com/telemesh/telemesh/internal/testutil"
)

func sinkStatus(st archive.Status, name string) archive.SinkStatus { return sinkOf(st, name) }

func cursorOf(st archive.Status, sink, node string) float64 {
	for _, n := range sinkStatus(st, sink).Nodes {
		if n.Node == node {
			return n.Cursor
		}
	}
	return 0
}

// TestArchiveEqualsGetData archives history and live readings of two
// nodes, and of a third that joins later, into VictoriaMetrics, InfluxDB
// and PostgreSQL at once: each engine holds exactly what each node's
// get_data returns for the same range.
func TestArchiveEqualsGetData(t *testing.T) {
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t), "influx": sinktest.InfluxDB(t), "pg": sinktest.Postgres(t)}
	dir := t.TempDir()
	fast := simNode{name: "fast", dir: dir, fields: 3, interval: 100 * time.Millisecond, backfill: "2m"}
	slow := simNode{name: "slow", dir: dir, fields: 2, interval: time.Second, backfill: "30m"}
	rt, cl, _ := deployment(t, fast, slow)

	a, _ := startArchiver(t, archiverConfig(t, t.TempDir(), "127.0.0.1:0", engines, ""), rt.URL())
	late := simNode{name: "late", dir: dir, fields: 1, interval: 200 * time.Millisecond, backfill: "0"}
	late.start(t, rt.URL())
	time.Sleep(2 * time.Second) // live readings too
	end := now()
	for _, n := range []simNode{fast, slow, late} {
		checkArchived(t, a.Status, cl, n, end, engines, 90*time.Second)
	}

	st := a.Status()
	for name := range engines {
		s := sinkStatus(st, name)
		if s.Written == 0 || len(s.Nodes) != 3 || s.Errors != 0 || s.Rejected != 0 {
			t.Errorf("status of %s: %+v", name, s)
		}
		for _, n := range s.Nodes {
			if n.Lag < 0 || n.Lag > 30 {
				t.Errorf("%s/%s lag %.1fs", name, n.Node, n.Lag)
			}
		}
	}
	resp, err := http.Get("http://" + a.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`telemesh_archive_points_written_total{sink="vm"}`, `telemesh_archive_lag_seconds{node="fast",sink="pg"}`, `telemesh_archive_retries_total{sink="influx"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSinkOutage stops VictoriaMetrics for 60 s (5 s with -short) while a
// node writes 3 fields at 10 Hz, then starts it again: no point is lost
// and none is kept twice, and PostgreSQL, the other sink, never stalled.
func TestSinkOutage(t *testing.T) {
	outage := 60 * time.Second
	if testing.Short() {
		outage = 5 * time.Second
	}
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t), "pg": sinktest.Postgres(t)}
	n := simNode{name: "n1", dir: t.TempDir(), fields: 3, interval: 100 * time.Millisecond, backfill: "10s"}
	rt, cl, _ := deployment(t, n)
	a, _ := startArchiver(t, archiverConfig(t, t.TempDir(), "127.0.0.1:0", engines, ""), rt.URL())
	testutil.Eventually(t, 30*time.Second, "archiving started", func() bool { return cursorOf(a.Status(), "vm", "n1") > 0 })

	engines["vm"].Stop()
	down := now()
	time.Sleep(outage)
	if c := cursorOf(a.Status(), "pg", "n1"); c < down+outage.Seconds()/2 {
		t.Errorf("pg stalled with vm down: cursor %.1fs after the outage began", c-down)
	}
	st := sinkStatus(a.Status(), "vm")
	if st.Retries == 0 || st.LastError == "" {
		t.Errorf("vm outage not reported: %+v", st)
	}
	engines["vm"].Start()
	checkArchived(t, a.Status, cl, n, now(), engines, 2*time.Minute)
}

// TestKillArchiver kills an archiver process with SIGKILL while it is
// catching up 30 minutes of 10 Hz history in batches, restarts it, and
// kills it again while it follows live readings: nothing lost, nothing
// kept twice.
func TestKillArchiver(t *testing.T) {
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t), "influx": sinktest.InfluxDB(t)}
	n := simNode{name: "n1", dir: t.TempDir(), fields: 3, interval: 100 * time.Millisecond, backfill: "30m"}
	rt, cl, _ := deployment(t, n)
	addr := "127.0.0.1:" + itoa(testutil.FreePort(t))
	file := archiverConfig(t, t.TempDir(), addr, engines, "")

	c := startChild(t, file, rt.URL(), addr)
	testutil.Eventually(t, 60*time.Second, "the archiver in the middle of catching up", func() bool {
		st := c.status()
		return sinkStatus(st, "vm").Written > 10000 && sinkStatus(st, "influx").Written > 10000
	})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	c = startChild(t, file, rt.URL(), addr)
	checkArchived(t, c.status, cl, n, now(), engines, 3*time.Minute)

	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	time.Sleep(2 * time.Second)
	c = startChild(t, file, rt.URL(), addr)
	checkArchived(t, c.status, cl, n, now(), engines, time.Minute)
}

// TestRouterOutage stops the router for a while: the node keeps recording
// into its store, drops out of the hub and comes back, and the archiver
// catches it up from the node's own store.
func TestRouterOutage(t *testing.T) {
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t)}
	n := simNode{name: "n1", dir: t.TempDir(), fields: 2, interval: 100 * time.Millisecond, backfill: "5s"}
	rt, cl, _ := deployment(t, n)
	a, _ := startArchiver(t, archiverConfig(t, t.TempDir(), "127.0.0.1:0", engines, ""), rt.URL())
	testutil.Eventually(t, 30*time.Second, "archiving started", func() bool { return cursorOf(a.Status(), "vm", "n1") > 0 })
	rt.Stop()
	down := now()
	time.Sleep(5 * time.Second)
	rt.Start()
	end := now()
	checkArchived(t, a.Status, cl, n, end, engines, time.Minute)
	got := before(only(engines["vm"].Read(t), "n1"), end)["n1/f0"]
	inGap := 0
	for _, p := range got {
		if float64(p.T)/1e9 > down+1 && float64(p.T)/1e9 < down+4 {
			inGap++
		}
	}
	if inGap < 20 {
		t.Errorf("only %d points of the outage archived", inGap)
	}
}

// TestNodeReturns stops a node for a while and starts it again over its
// store; the archiver stops following it, then catches up what it holds.
func TestNodeReturns(t *testing.T) {
	engines := map[string]*sinktest.Engine{"pg": sinktest.Postgres(t)}
	n := simNode{name: "n1", dir: t.TempDir(), fields: 2, interval: 100 * time.Millisecond, backfill: "5s"}
	rt, cl, stops := deployment(t, n)
	stop := stops[0]
	a, _ := startArchiver(t, archiverConfig(t, t.TempDir(), "127.0.0.1:0", engines, ""), rt.URL())
	checkArchived(t, a.Status, cl, n, now(), engines, 30*time.Second)
	stop()
	testutil.Eventually(t, 30*time.Second, "the archiver to drop the node", func() bool { return len(sinkStatus(a.Status(), "pg").Nodes) == 0 })
	n.backfill = "0"
	n.start(t, rt.URL())
	time.Sleep(time.Second)
	checkArchived(t, a.Status, cl, n, now(), engines, 30*time.Second)
}

// TestSinkUnreachableAtStart starts the archiver while its engine is
// down: it retries, and archives everything once the engine is up.
func TestSinkUnreachableAtStart(t *testing.T) {
	engines := map[string]*sinktest.Engine{"vm": sinktest.VictoriaMetrics(t)}
	engines["vm"].Stop()
	n := simNode{name: "n1", dir: t.TempDir(), fields: 2, interval: 100 * time.Millisecond, backfill: "10s"}
	rt, cl, _ := deployment(t, n)
	a, _ := startArchiver(t, archiverConfig(t, t.TempDir(), "127.0.0.1:0", engines, ""), rt.URL())
	testutil.Eventually(t, 30*time.Second, "retries reported", func() bool { return sinkStatus(a.Status(), "vm").Retries > 0 })
	engines["vm"].Start()
	checkArchived(t, a.Status, cl, n, now(), engines, time.Minute)
}

func itoa(i int) string { return strconv.Itoa(i) }
