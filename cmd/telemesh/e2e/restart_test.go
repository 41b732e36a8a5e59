package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestRouterRestarts restarts the router 50 times, alternating SIGKILL and
// SIGTERM, under 50 node processes and a hub process (issue 13, must
// hold): after each restart every node is listed again by the hub, with
// its new session, within 5 s, answers get_data and publishes live; none
// is wedged, and none flaps. At the end SIGTERM stops every node within
// 5 s. The re-listing times (from the router accepting connections again)
// are logged per restart and summarized.
func TestRouterRestarts(t *testing.T) {
	nodeCount, restarts := 50, 50
	if testing.Short() {
		nodeCount, restarts = 10, 6
	}
	const relistBound, stopBound = 5 * time.Second, 5 * time.Second
	s := newStack(t, "telemesh")
	r := s.router()
	s.hub()
	names := make([]string, nodeCount)
	procs := map[string]*proc{}
	for i := range names {
		names[i] = fmt.Sprintf("n%02d", i)
		procs[names[i]] = s.nodeWith(names[i], nodeOpts{interval: 500 * time.Millisecond, fields: 2, logLevel: "info"})
	}
	cl, stop, err := s.freshClient(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var listed map[string]protocol.NodeInfo
	testutil.Eventually(t, 120*time.Second, "the hub to list every node", func() bool {
		listed = nodes(cl)
		return len(listed) == nodeCount
	})
	stop()
	// Nodes that only reconnect do not flap (protocol.md): no
	// data_node_subtracted, and no data_node_added as their descriptions
	// stay the same. A watcher misses what is published while it
	// reconnects itself; the hub's grace expiries come 15 s later.
	var flaps sync.Mutex
	added, subtracted := 0, 0
	stopWatch := s.client().WatchNodes(func(add bool, n protocol.NodeSummary) {
		flaps.Lock()
		defer flaps.Unlock()
		if add {
			added++
		} else {
			subtracted++
		}
	})
	defer stopWatch()
	sessions := map[string]uint64{}
	for name, n := range listed {
		sessions[name] = n.Session
	}

	var allRelist, roundMax []time.Duration
	t.Logf("%-3s %-6s %9s %8s %8s %13s %6s %6s", "#", "signal", "router_ms", "p50_ms", "max_ms", "max_from_kill", "wedged", "events")
	for i := range restarts {
		sig, sigName := syscall.SIGKILL, "KILL"
		if i%2 == 1 {
			sig, sigName = syscall.SIGTERM, "TERM"
		}
		killed := time.Now()
		r.signal(sig)
		if !r.wait(10 * time.Second) {
			t.Fatalf("restart %d: the router did not exit within 10s of %v", i, sig)
		}
		exited := time.Since(killed)
		r = s.router()
		up := time.Now()
		rd := s.relist(t, names, names, sessions, up, 30*time.Second)
		var times []time.Duration
		for _, name := range names {
			if d, ok := rd.listed[name]; ok {
				times = append(times, d)
			}
		}
		allRelist = append(allRelist, times...)
		roundMax = append(roundMax, quantile(times, 1))
		flaps.Lock()
		events := added + subtracted
		flaps.Unlock()
		t.Logf("%-3d %-6s %9s %8s %8s %13s %6d %6d", i, sigName, ms(exited), ms(quantile(times, 0.5)), ms(quantile(times, 1)), ms(quantile(times, 1)+up.Sub(killed)), len(rd.wedged), events)
		if len(rd.wedged) > 0 {
			for _, name := range rd.wedged {
				// A goroutine dump shows where a wedged node is stuck.
				procs[name].signal(syscall.SIGQUIT)
				procs[name].wait(5 * time.Second)
				t.Logf("--- %s: %s; its goroutines ---\n%s", name, rd.why[name], ownGoroutines(procs[name].out.String()))
			}
			t.Fatalf("restart %d (%v): %d wedged nodes: %v", i, sig, len(rd.wedged), rd.wedged)
		}
		if m := quantile(times, 1); m > relistBound {
			t.Errorf("restart %d (%v): the last node was listed again %v after the router came back, over %v", i, sig, m, relistBound)
		}
		sessions = rd.sessions
	}
	flaps.Lock()
	t.Logf("node events seen during the restarts: %d data_node_added, %d data_node_subtracted", added, subtracted)
	if added+subtracted > 0 {
		t.Errorf("nodes that only reconnected flapped: %d data_node_added, %d data_node_subtracted", added, subtracted)
	}
	flaps.Unlock()
	t.Logf("re-listing over %d restarts x %d nodes: p50 %v, p90 %v, max %v; per restart the slowest node: p50 %v, max %v",
		restarts, nodeCount, quantile(allRelist, 0.5), quantile(allRelist, 0.9), quantile(allRelist, 1), quantile(roundMax, 0.5), quantile(roundMax, 1))

	// SIGTERM stops every node within the bound, all at once.
	stops := terminateAll(names, procs, stopBound+5*time.Second)
	for i, name := range names {
		p := procs[name]
		switch {
		case p.running():
			t.Errorf("node %s still running %v after SIGTERM", name, stops[i])
		case stops[i] > stopBound:
			t.Errorf("node %s took %v to stop after SIGTERM, over %v", name, stops[i], stopBound)
		case !p.cmd.ProcessState.Success():
			t.Errorf("node %s exited with %v after SIGTERM:\n%s", name, p.cmd.ProcessState, tailLines(p.out.String(), 10))
		}
	}
	t.Logf("SIGTERM to %d nodes at once: stopped in p50 %v, max %v", len(stops), quantile(stops, 0.5), quantile(stops, 1))
}

// relisting is what one router restart looked like from a consumer.
type relisting struct {
	// listed is when each node was first listed with a new session,
	// counted from the router's return.
	listed map[string]time.Duration
	// sessions are the sessions the hub lists the nodes with.
	sessions map[string]uint64
	// wedged are the nodes that were not listed again, did not answer
	// get_data or published nothing live; why says which.
	wedged []string
	why    map[string]string
}

// relist follows the nodes back after a router restart at up: a consumer
// connected at once polls the hub's list for sessions other than old
// (the hub keeps listing a node's old session for its grace period),
// then calls get_data on each node and waits for a live reading published
// after up of each of liveNames.
func (s *stack) relist(t *testing.T, names, liveNames []string, old map[string]uint64, up time.Time, timeout time.Duration) relisting {
	t.Helper()
	rd := relisting{listed: map[string]time.Duration{}, sessions: map[string]uint64{}, why: map[string]string{}}
	cl, stop, err := s.freshClient(10 * time.Second)
	if err != nil {
		t.Fatalf("consumer after the restart: %v", err)
	}
	defer stop()
	var mu sync.Mutex
	live := map[string]bool{}
	upTS := protocol.FromTime(up)
	for _, name := range liveNames {
		unsub, err := cl.Subscribe(context.Background(), name, func(res *protocol.DataResult) {
			for _, tl := range res.Timeline {
				if len(tl.T) > 0 && tl.T[len(tl.T)-1] > upTS {
					mu.Lock()
					live[name] = true
					mu.Unlock()
				}
			}
		})
		if err != nil {
			t.Fatalf("subscribing to %s: %v", name, err)
		}
		defer unsub()
	}
	deadline := time.Now().Add(timeout)
	for len(rd.listed) < len(names) && time.Now().Before(deadline) {
		for name, n := range nodes(cl) {
			if _, seen := rd.listed[name]; !seen && n.Session != old[name] {
				rd.listed[name] = time.Since(up)
				rd.sessions[name] = n.Session
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	var wg sync.WaitGroup
	for _, name := range names {
		if _, ok := rd.listed[name]; !ok {
			rd.why[name] = fmt.Sprintf("not listed again within %v", timeout)
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cl.GetData(ctx, name, consumers.Query{Fields: []string{"f0"}, Start: -10, End: 0})
			if err != nil {
				mu.Lock()
				rd.why[name] = "get_data: " + err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	liveDeadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(live)
		mu.Unlock()
		if n == len(liveNames) || time.Now().After(liveDeadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range liveNames {
		if !live[name] && rd.why[name] == "" {
			rd.why[name] = "no live reading since the restart"
		}
	}
	for _, name := range names {
		if rd.why[name] != "" {
			rd.wedged = append(rd.wedged, name)
		}
	}
	return rd
}

// ownGoroutines keeps, of a process's output ending in a Go goroutine
// dump (SIGQUIT), the last log lines and the goroutines in telemesh or
// nexus code.
func ownGoroutines(out string) string {
	i := strings.Index(out, "\ngoroutine ")
	if i < 0 {
		return tailLines(out, 40)
	}
	keep := []string{tailLines(out[:i], 20)}
	for _, g := range strings.Split(out[i:], "\n\n") {
		if strings.Contains(g, "github.com/telemesh/") || strings.Contains(g, "github.com/gammazero/") {
			keep = append(keep, strings.TrimSpace(g))
		}
	}
	return strings.Join(keep, "\n\n")
}
