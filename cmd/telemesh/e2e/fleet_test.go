package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/procstat"
	"github.com/telemesh/telemesh/wampx"
)

// Helpers of the suites that run many processes, hang them and measure
// them: restart_test.go, badstart_test.go, hung_test.go and soak_test.go.

// nodeOpts is what a test node's file sets besides its name.
type nodeOpts struct {
	// interval is the sim driver's sampling interval.
	interval time.Duration
	// fields names the sim fields f0..f(n-1); 0 keeps the driver's three
	// (temperature, humidity, co2).
	fields int
	// url is the router's URL; the stack's WebSocket URL if empty.
	url string
	// dataDir is the node's data_dir; <stack dir>/<name> if empty.
	dataDir string
	// backfill is the sim driver's history written at start (none if
	// empty).
	backfill string
	// flush is the store's flush_interval; 200ms if zero.
	flush time.Duration
	// health is the node's health.listen (/metrics), none if empty.
	health string
	// logLevel is the node's --log-level; debug if empty.
	logLevel string
	// bin is the node's telemesh binary; the suite's if empty.
	bin string
}

// nodeFile writes the node file of name and returns its path and the
// node's arguments (without --log-level).
func (s *stack) nodeFile(name string, o nodeOpts) (path string, args []string) {
	s.t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(s.dir, name)
	}
	if o.url == "" {
		o.url = s.url
	}
	if o.flush == 0 {
		o.flush = 200 * time.Millisecond
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ndescription: e2e node %s\ndata_dir: %s\nstore:\n  flush_interval: %s\n",
		name, name, o.dataDir, o.flush)
	if o.health != "" {
		fmt.Fprintf(&b, "health:\n  listen: %s\n", o.health)
	}
	// The driver's block comes last: backfill and fields below extend it.
	fmt.Fprintf(&b, "drivers:\n  - type: sim\n    interval: %s\n", o.interval)
	if o.backfill != "" {
		fmt.Fprintf(&b, "    backfill: %s\n", o.backfill)
	}
	if o.fields > 0 {
		b.WriteString("    fields:\n")
		for i := range o.fields {
			fmt.Fprintf(&b, "      - {name: f%d, units: V, base: %d, noise: 0.1}\n", i, i)
		}
	}
	path = filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path, []string{"node", "--config", path, "--url", o.url, "--profile", s.profile}
}

// nodeWith starts a data node with a sim driver as o says.
func (s *stack) nodeWith(name string, o nodeOpts) *proc {
	s.t.Helper()
	_, args := s.nodeFile(name, o)
	if o.logLevel != "" {
		// start puts --log-level debug first; a later one wins.
		args = append([]string{"--log-level", o.logLevel}, args...)
	}
	if o.bin != "" {
		return startBin(s.t, o.bin, "node "+name, args...)
	}
	return start(s.t, "node "+name, args...)
}

// freshClient connects a consumers.Client now (not after a backoff) and
// returns it once it has a session, with the function that ends it.
func (s *stack) freshClient(timeout time.Duration) (*consumers.Client, func(), error) {
	d, err := wampx.Config{URL: s.url, Realm: s.names.Realm}.Dialer(nil)
	if err != nil {
		return nil, nil, err
	}
	cl := consumers.New(d, s.names, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	rctx, rcancel := context.WithTimeout(ctx, timeout)
	defer rcancel()
	if err := cl.Ready(rctx); err != nil {
		stop()
		return nil, nil, err
	}
	return cl, stop, nil
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// pid is the process's id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// wait waits up to timeout for the process to exit and reports whether it
// did.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// terminateAll sends SIGTERM to the processes of names at once and
// returns how long each took to exit, waiting up to timeout.
func terminateAll(names []string, procs map[string]*proc, timeout time.Duration) []time.Duration {
	sent := time.Now()
	for _, name := range names {
		procs[name].signal(syscall.SIGTERM)
	}
	took := make([]time.Duration, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			procs[name].wait(timeout - time.Since(sent))
			took[i] = time.Since(sent)
		})
	}
	wg.Wait()
	return took
}

// rssKB is the resident set size of process pid in KiB (0 once it is gone).
func rssKB(pid int) int { return int(procstat.Read(pid).RSS >> 10) }

// metrics scrapes a Prometheus text endpoint into series -> value, the
// series written as in the text ("name{label=\"v\"}").
func metrics(url string) (map[string]float64, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// quantile is the q-quantile (nearest rank) of ds, 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms formats d in milliseconds for the measurement tables.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
