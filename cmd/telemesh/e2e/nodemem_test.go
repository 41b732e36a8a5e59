package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/procstat"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestNodeMemory is the node memory measurement of issue 11, not a test
// of make test: it runs only with TELEMESH_NODE_MEMORY=1
// (scripts/node-memory.sh). One node process with the sim driver (three
// fields at 1 Hz) writes a day of history at start, then serves; the log
// gives its resident memory, split into private memory and the mapped
// binary, while steady, at its peak during the backfill, and at its peak
// while serving five raw days of one field over get_data.
func TestNodeMemory(t *testing.T) {
	if os.Getenv("TELEMESH_NODE_MEMORY") != "1" {
		t.Skip("a measurement: run it with TELEMESH_NODE_MEMORY=1 (scripts/node-memory.sh)")
	}
	s := newStack(t, "telemesh")
	s.router()
	s.hub()
	health := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	began := time.Now()
	// TELEMESH_NODE_MEMORY_NODE_BIN runs the node from another build (a
	// node's own, make node-build) beside the suite's router and hub.
	nodeBin := os.Getenv("TELEMESH_NODE_MEMORY_NODE_BIN")
	if nodeBin != "" {
		t.Logf("node binary %s", nodeBin)
	}
	node := s.nodeWith("mem1", nodeOpts{interval: time.Second, backfill: "1d", flush: time.Second, health: health, logLevel: "info", bin: nodeBin})
	cl := s.client()
	waitNodes(t, cl, "mem1")
	day := func(ctx context.Context) (int, error) {
		now := time.Now()
		res, err := cl.GetData(ctx, "mem1", consumers.Query{Fields: []string{"temperature"},
			Start: protocol.FromTime(now.Add(-24 * time.Hour)), End: protocol.FromTime(now)})
		if err != nil {
			return 0, err
		}
		return res.Data["temperature"].Len(), nil
	}
	sample := func(what string, d time.Duration) procstat.Memory {
		var rss []int64
		var last procstat.Memory
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
			last = procstat.Read(node.pid())
			rss = append(rss, last.RSS)
		}
		slices.Sort(rss)
		t.Logf("%s: resident median %.1f MiB, max %.1f MiB over %v; last sample: private %.1f MiB, mapped files %.1f MiB, shared %.1f MiB",
			what, procstat.MiB(rss[len(rss)/2]), procstat.MiB(rss[len(rss)-1]), d, procstat.MiB(last.Anon), procstat.MiB(last.File), procstat.MiB(last.Shm))
		return last
	}
	// The backfill is written once a raw day is all there.
	testutil.Eventually(t, 2*time.Minute, "the node's day of history", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n, err := day(ctx)
		return err == nil && n >= 86390
	})
	// and written once the store has nothing left to flush.
	testutil.Eventually(t, 2*time.Minute, "the backfill flushed", func() bool {
		m, err := metrics("http://" + health + "/metrics")
		return err == nil && m["telemesh_node_store_buffered"] == 0
	})
	backfill := procstat.Read(node.pid())
	t.Logf("backfill written after %v; peak resident %.1f MiB", time.Since(began).Round(time.Second), procstat.MiB(backfill.Peak))
	// Memory freed by the backfill goes back to the OS in the minute after.
	sample("settling", time.Minute)

	sample("steady", 30*time.Second)
	// Linux resets the peak on writing 5 to clear_refs: from here on it
	// is the peak while serving.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", node.pid()), []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak (%v): the serving peak below includes the backfill's", err)
	}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t0 := time.Now()
		n, err := day(ctx)
		cancel()
		if err != nil || n < 86390 {
			t.Fatalf("raw day %d: %d readings, %v", i, n, err)
		}
		t.Logf("raw day %d: %d readings in %v", i, n, time.Since(t0).Round(time.Millisecond))
	}
	t.Logf("peak resident while serving the raw days: %.1f MiB", procstat.MiB(procstat.Read(node.pid()).Peak))
	sample("steady after serving", 30*time.Second)
	if m, err := metrics("http://" + health + "/metrics"); err == nil {
		t.Logf("the node's own figures: Go runtime %.1f MiB, SQLite heap %.1f MiB",
			m["telemesh_node_go_memory_bytes"]/(1<<20), m["telemesh_node_store_c_heap_bytes"]/(1<<20))
	}
}
