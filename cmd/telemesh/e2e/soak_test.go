package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// soakConfig sizes TestSoak from the environment (scripts/soak.sh).
type soakConfig struct {
	nodes, fields, counted int
	interval, duration     time.Duration
	sample                 time.Duration
}

func soakFromEnv(t *testing.T) soakConfig {
	c := soakConfig{nodes: 200, fields: 10, counted: 10, interval: 100 * time.Millisecond, duration: 10 * time.Minute, sample: 30 * time.Second}
	for name, dst := range map[string]*int{"NODES": &c.nodes, "FIELDS": &c.fields, "COUNTED": &c.counted} {
		if v := os.Getenv("TELEMESH_SOAK_" + name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("TELEMESH_SOAK_%s=%q: want a positive number", name, v)
			}
			*dst = n
		}
	}
	for name, dst := range map[string]*time.Duration{"INTERVAL": &c.interval, "DURATION": &c.duration, "SAMPLE": &c.sample} {
		if v := os.Getenv("TELEMESH_SOAK_" + name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Fatalf("TELEMESH_SOAK_%s=%q: want a positive duration", name, v)
			}
			*dst = d
		}
	}
	c.counted = min(c.counted, c.nodes)
	return c
}

// TestSoak is the soak measurement of issue 13, not a test of make test:
// it runs only with TELEMESH_SOAK=1 (scripts/soak.sh). Node processes
// (200 x 10 fields x 10 Hz by default) run for the duration with a
// router SIGKILL and restart in the middle; it logs the resident memory
// of the router, the hub and the nodes over time, counts the live
// readings of some nodes for loss and duplicates, checks at the end that
// every node stored every reading, and measures get_data latency.
func TestSoak(t *testing.T) {
	if os.Getenv("TELEMESH_SOAK") != "1" {
		t.Skip("a measurement: run it with TELEMESH_SOAK=1 (scripts/soak.sh)")
	}
	c := soakFromEnv(t)
	t.Logf("soak: %d nodes x %d fields every %v for %v, router restart at half time, live readings counted on %d nodes",
		c.nodes, c.fields, c.interval, c.duration, c.counted)
	s := newStack(t, "telemesh")
	r := s.router()
	hub := s.hub()
	names := make([]string, c.nodes)
	procs := make([]*proc, c.nodes)
	procMap := map[string]*proc{}
	health := map[string]string{}
	began := time.Now()
	for i := range names {
		names[i] = fmt.Sprintf("s%03d", i)
		o := nodeOpts{interval: c.interval, fields: c.fields, logLevel: "info", flush: time.Second}
		if i < c.counted {
			// The counted nodes' own counts of live readings sent and lost.
			o.health = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
			health[names[i]] = o.health
		}
		procs[i] = s.nodeWith(names[i], o)
		procMap[names[i]] = procs[i]
	}
	cl := s.client()
	var listed map[string]protocol.NodeInfo
	testutil.Eventually(t, 10*time.Minute, "the hub to list every node", func() bool {
		listed = nodes(cl)
		return len(listed) == c.nodes
	})
	t.Logf("all %d nodes listed %v after the first started", c.nodes, time.Since(began).Round(time.Millisecond))

	lc := newLiveCounter(c.interval, c.fields)
	for _, name := range names[:c.counted] {
		stop, err := cl.Subscribe(context.Background(), name, func(res *protocol.DataResult) { lc.add(name, res) })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var outage struct {
		sync.Mutex
		from, to time.Time
	}
	inOutage := func(at time.Time, slack time.Duration) bool {
		outage.Lock()
		defer outage.Unlock()
		return !outage.from.IsZero() && at.After(outage.from.Add(-slack)) && (outage.to.IsZero() || at.Before(outage.to.Add(slack)))
	}
	// get_data of every field over the last minute of a random node, as a
	// dashboard refreshes, one at a time.
	var gets struct {
		sync.Mutex
		took         []time.Duration
		errs, outErr int
		lastErr      error
	}
	wg.Go(func() {
		allFields := make([]string, c.fields)
		for i := range allFields {
			allFields[i] = fmt.Sprintf("f%d", i)
		}
		for ctx.Err() == nil {
			name := names[rand.IntN(len(names))]
			at := time.Now()
			gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := cl.GetData(gctx, name, consumers.Query{Fields: allFields, Start: -60, End: 0})
			gcancel()
			took := time.Since(at)
			gets.Lock()
			switch {
			case ctx.Err() != nil:
			case err != nil && inOutage(at, 2*time.Second):
				gets.outErr++
			case err != nil:
				gets.errs++
				gets.lastErr = fmt.Errorf("%s: %w", name, err)
			default:
				gets.took = append(gets.took, took)
			}
			gets.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	// Memory and CPU over time.
	var samples []soakSample
	var cpuWas float64
	var cpuAt time.Time
	takeSample := func(at time.Duration) {
		rss := make([]int, 0, len(procs))
		pids := []int{r.pid(), hub.pid()}
		for _, p := range procs {
			rss = append(rss, rssKB(p.pid()))
			pids = append(pids, p.pid())
		}
		slices.Sort(rss)
		cpu := cpuSeconds(pids...)
		var pct float64
		if !cpuAt.IsZero() {
			pct = 100 * (cpu - cpuWas) / time.Since(cpuAt).Seconds()
		}
		cpuWas, cpuAt = cpu, time.Now()
		load, _ := os.ReadFile("/proc/loadavg")
		sm := soakSample{at, rssKB(r.pid()), rssKB(hub.pid()), rss[0], rss[len(rss)/2], rss[len(rss)-1], pct,
			strings.Join(strings.Fields(string(load))[:3], " ")}
		samples = append(samples, sm)
		t.Logf("sample %s", sm)
	}

	start := time.Now()
	startTS := protocol.FromTime(start)
	takeSample(0)
	tick := time.NewTicker(c.sample)
	defer tick.Stop()
	restarted := false
	var relistMax time.Duration
	var wedged []string
	for time.Since(start) < c.duration {
		<-tick.C
		takeSample(time.Since(start))
		if !restarted && time.Since(start) >= c.duration/2 {
			restarted = true
			sessions := map[string]uint64{}
			for name, n := range nodes(cl) {
				sessions[name] = n.Session
			}
			outage.Lock()
			outage.from = time.Now()
			outage.Unlock()
			r.kill()
			r = s.router()
			up := time.Now()
			rd := s.relist(t, names, names[:c.counted], sessions, up, 60*time.Second)
			outage.Lock()
			outage.to = time.Now()
			outage.Unlock()
			var times []time.Duration
			for _, d := range rd.listed {
				times = append(times, d)
			}
			relistMax = quantile(times, 1)
			for _, l := range strings.Split(hub.out.String(), "\n") {
				if strings.Contains(l, `msg="hub ready"`) || strings.Contains(l, "reconnecting") {
					t.Logf("hub: %s", l)
				}
			}
			wedged = rd.wedged
			for _, name := range rd.wedged {
				t.Logf("after the restart %s: %s", name, rd.why[name])
			}
			t.Logf("router SIGKILLed at %v and restarted (accepting at %s): %d of %d nodes listed again, p50 %v, max %v after it came back; %d wedged %v",
				outage.from.Sub(start).Round(time.Second), up.UTC().Format("15:04:05.000"), len(times), len(names), quantile(times, 0.5), relistMax, len(rd.wedged), rd.wedged)
		}
	}
	end := time.Now()
	cancel()
	wg.Wait()

	t.Logf("%-8s %10s %8s %22s %8s %s", "t", "router_MB", "hub_MB", "nodes_MB min/med/max", "cpu_%", "load")
	for _, sm := range samples {
		t.Logf("%s", sm)
	}
	gets.Lock()
	t.Logf("get_data (%d fields, last minute, random node): %d answers, p50 %v, p99 %v, max %v; %d errors outside the restart (last: %v), %d during it",
		c.fields, len(gets.took), quantile(gets.took, 0.5), quantile(gets.took, 0.99), quantile(gets.took, 1), gets.errs, gets.lastErr, gets.outErr)
	gets.Unlock()

	outage.Lock()
	from, to := outage.from, outage.to
	outage.Unlock()
	for _, name := range names[:c.counted] {
		rep := lc.report(name, startTS+1, protocol.FromTime(end)-1, protocol.FromTime(from)-1, protocol.FromTime(to)+2)
		m, err := metrics("http://" + health[name] + "/metrics")
		t.Logf("live %s: %s; the node says sent %v, lost %v (%v)", name, rep, m["telemesh_node_live_sent_total"], m["telemesh_node_live_lost_total"], err)
	}
	if m, err := metrics("http://" + s.addr + "/metrics"); err == nil {
		var drops []string
		for k, v := range m {
			if strings.HasPrefix(k, "telemesh_router_dropped_") {
				drops = append(drops, fmt.Sprintf("%s %v", strings.TrimPrefix(k, "telemesh_router_"), v))
			}
		}
		slices.Sort(drops)
		t.Logf("router since its restart: %s", strings.Join(drops, ", "))
	}
	if len(wedged) > 0 {
		t.Errorf("%d wedged nodes after the restart: %v", len(wedged), wedged)
	}

	// Every node stored every reading of the soak (f0 checked on each).
	var missing, short []string
	var mu sync.Mutex
	var sg sync.WaitGroup
	sem := make(chan struct{}, 8)
	from0, to0 := startTS, protocol.FromTime(end)-3
	for _, name := range names {
		sg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// A node or the consumer may be reconnecting: a few tries.
			var res *protocol.DataResult
			var err error
			for try := 0; try < 4; try++ {
				gctx, gcancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err = cl.GetData(gctx, name, consumers.Query{Fields: []string{"f0"}, Start: from0, End: to0})
				gcancel()
				if err == nil {
					break
				}
				time.Sleep(5 * time.Second)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s: %v", name, err))
				return
			}
			want := gridCount(from0, to0, c.interval)
			if got := res.Data["f0"].Len(); got != want {
				short = append(short, fmt.Sprintf("%s: %d of %d", name, got, want))
			}
		})
	}
	sg.Wait()
	t.Logf("stored readings of f0 over the soak, every node: %d nodes complete, %d short %v, %d not answering %v", len(names)-len(short)-len(missing), len(short), short, len(missing), missing)
	if len(short) > 0 {
		t.Errorf("%d nodes lost stored readings: %v", len(short), short)
	}

	stops := terminateAll(names, procMap, 30*time.Second)
	t.Logf("SIGTERM to %d nodes at once: stopped in p50 %v, max %v", len(stops), quantile(stops, 0.5), quantile(stops, 1))
}

// gridCount is the number of multiples of iv in [from, to).
func gridCount(from, to float64, iv time.Duration) int {
	s := iv.Seconds()
	return int(math.Ceil(to/s-1e-9) - math.Ceil(from/s-1e-9))
}

// cpuSeconds is the CPU time (user and system) the processes used so far.
func cpuSeconds(pids ...int) float64 {
	var ticks float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name in parentheses: utime is the 14th
		// field of the line, stime the 15th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			sy, _ := strconv.ParseFloat(f[12], 64)
			ticks += u + sy
		}
	}
	return ticks / 100 // USER_HZ
}

// liveCounter counts the live readings of some nodes by sample tick (the
// sim driver stamps exact multiples of its interval).
type liveCounter struct {
	iv     float64
	fields int
	mu     sync.Mutex
	// seen counts the field values received per node and tick.
	seen       map[string]map[int64]int
	misaligned int
}

func newLiveCounter(iv time.Duration, fields int) *liveCounter {
	return &liveCounter{iv: iv.Seconds(), fields: fields, seen: map[string]map[int64]int{}}
}

func (lc *liveCounter) add(node string, res *protocol.DataResult) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	m := lc.seen[node]
	if m == nil {
		m = map[int64]int{}
		lc.seen[node] = m
	}
	for _, tl := range res.Timeline {
		n := 0
		for _, v := range res.Data {
			if v.Len() == len(tl.T) {
				n++
			}
		}
		if n != len(res.Data) {
			lc.misaligned++
		}
		for _, ts := range tl.T {
			m[int64(math.Round(ts/lc.iv))] += n
		}
	}
}

// report counts, over the ticks in [from, to), the ticks received with
// every field once, duplicated ones and missing ones, the missing split
// into those inside the outage [outFrom, outTo) and outside it.
func (lc *liveCounter) report(node string, from, to, outFrom, outTo float64) string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	m := lc.seen[node]
	var ok, dup, lostIn, lostOut, partial, gaps int
	var run, longest int
	var longestAt float64
	for k := int64(math.Ceil(from / lc.iv)); float64(k)*lc.iv < to; k++ {
		ts := float64(k) * lc.iv
		n := m[k]
		switch {
		case n == lc.fields:
			ok++
		case n > lc.fields:
			dup++
		case n == 0 && ts >= outFrom && ts < outTo:
			lostIn++
		case n == 0:
			lostOut++
		default:
			partial++
		}
		if n == 0 {
			if run == 0 {
				gaps++
			}
			if run++; run > longest {
				longest, longestAt = run, ts-float64(run-1)*lc.iv
			}
		} else {
			run = 0
		}
	}
	gap := ""
	if gaps > 0 {
		gap = fmt.Sprintf("; %d gaps, the longest %d ticks from %s", gaps, longest, protocol.ToTime(longestAt).Format("15:04:05.0"))
	}
	return fmt.Sprintf("%d ticks x %d fields complete, %d duplicated, %d partial, %d missing outside the restart, %d missing during it%s (misaligned batches: %d)",
		ok, lc.fields, dup, partial, lostOut, lostIn, gap, lc.misaligned)
}

// soakSample is the memory (KiB) and CPU use of the soak's processes at
// one time.
type soakSample struct {
	at                     time.Duration
	router, hub            int
	nodeMin, nodeMed, nMax int
	// cpu is the percent of one core all of them used since the last
	// sample.
	cpu  float64
	load string
}

func (sm soakSample) String() string {
	mb := func(kb int) float64 { return float64(kb) / 1024 }
	return fmt.Sprintf("%-8v %10.1f %8.1f %8.1f/%5.1f/%5.1f %10.0f   %s", sm.at.Round(time.Second), mb(sm.router), mb(sm.hub),
		mb(sm.nodeMin), mb(sm.nodeMed), mb(sm.nMax), sm.cpu, sm.load)
}
