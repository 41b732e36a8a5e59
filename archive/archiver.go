package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/telemesh/telemesh/protocol"
)

// Archiver follows the hub and copies every node into every sink.
type Archiver struct {
	cfg     Config
	src     Source
	sinks   map[string]Sink
	log     *slog.Logger
	cur     *cursors
	metrics *metrics

	mu    sync.Mutex
	nodes map[string]*nodeRun
	addr  net.Addr
	ready chan struct{}
}

// nodeRun is one followed node: its live subscription and one worker per
// sink, all stopped by cancel.
type nodeRun struct {
	cancel  context.CancelFunc
	done    chan struct{}
	workers []*worker
}

// New returns an archiver over src writing to sinks (by name, as
// Config.OpenSinks gives them); Run starts it. The archiver closes the
// sinks when Run returns.
func New(cfg Config, src Source, sinks map[string]Sink, logger *slog.Logger) (*Archiver, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, s := range cfg.Sinks {
		if sinks[s.Name] == nil {
			return nil, fmt.Errorf("sink %q is configured but not open", s.Name)
		}
	}
	a := &Archiver{cfg: cfg, src: src, sinks: sinks, log: logger, nodes: map[string]*nodeRun{}, ready: make(chan struct{})}
	a.metrics = newMetrics(a)
	return a, nil
}

// Addr returns the address /metrics is served on, once Ready.
func (a *Archiver) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Ready is closed once the cursors are open and /metrics listens.
func (a *Archiver) Ready() <-chan struct{} { return a.ready }

// Run archives until ctx ends and returns nil then; it fails only when the
// cursor file or the listen address cannot be opened.
func (a *Archiver) Run(ctx context.Context) error {
	defer func() {
		for _, s := range a.sinks {
			s.Close()
		}
	}()
	cur, err := openCursors(a.cfg.DataDir)
	if err != nil {
		return err
	}
	defer cur.close()
	a.cur = cur
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srvDone chan struct{}
	if a.cfg.Listen != "-" {
		ln, err := net.Listen("tcp", a.cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		a.mu.Lock()
		a.addr = ln.Addr()
		a.mu.Unlock()
		srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
		srvDone = make(chan struct{})
		go func() {
			defer close(srvDone)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("status server stopped", "err", err)
			}
		}()
		defer func() { srv.Close(); <-srvDone }()
	}
	close(a.ready)
	kick := make(chan struct{}, 1)
	stopWatch := a.src.WatchNodes(func(bool, string) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	defer stopWatch()
	defer a.stopAll()
	t := time.NewTicker(a.cfg.Refresh.D())
	defer t.Stop()
	bo := backoff{}
	for {
		wait := a.cfg.Refresh.D()
		if err := a.reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("cannot list nodes; retrying", "err", err)
			wait = bo.next()
		} else {
			bo.reset()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		case <-time.After(wait):
		}
	}
}

// reconcile starts the nodes the hub lists and stops those it dropped.
func (a *Archiver) reconcile(ctx context.Context) error {
	names, err := a.src.ListNodes(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		if a.cfg.match(n) {
			want[n] = true
		}
	}
	a.mu.Lock()
	var gone []*nodeRun
	for n, r := range a.nodes {
		if !want[n] {
			gone = append(gone, r)
			delete(a.nodes, n)
			a.log.Info("node left; stopped archiving it", "node", n)
		}
	}
	var fresh []string
	for n := range want {
		if a.nodes[n] == nil {
			fresh = append(fresh, n)
		}
	}
	a.mu.Unlock()
	for _, r := range gone {
		r.cancel()
		<-r.done
	}
	for _, n := range fresh {
		if err := a.startNode(ctx, n); err != nil {
			a.log.Warn("cannot follow node", "node", n, "err", err)
		}
	}
	return nil
}

func (a *Archiver) startNode(ctx context.Context, node string) error {
	nctx, cancel := context.WithCancel(ctx)
	r := &nodeRun{cancel: cancel, done: make(chan struct{})}
	for _, s := range a.cfg.Sinks {
		r.workers = append(r.workers, a.newWorker(s.Name, a.sinks[s.Name], node))
	}
	stop, err := a.src.Subscribe(nctx, node, func(res *protocol.DataResult) {
		for _, w := range r.workers {
			w.offer(res)
		}
	})
	if err != nil {
		cancel()
		return err
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(nctx) }()
	}
	go func() {
		wg.Wait()
		stop()
		close(r.done)
	}()
	a.mu.Lock()
	a.nodes[node] = r
	a.mu.Unlock()
	a.log.Info("archiving node", "node", node)
	return nil
}

func (a *Archiver) stopAll() {
	a.mu.Lock()
	runs := make([]*nodeRun, 0, len(a.nodes))
	for n, r := range a.nodes {
		runs = append(runs, r)
		delete(a.nodes, n)
	}
	a.mu.Unlock()
	for _, r := range runs {
		r.cancel()
	}
	for _, r := range runs {
		<-r.done
	}
}

// Status is what /status and telemesh archive status report.
type Status struct {
	Sinks []SinkStatus `json:"sinks"`
}

// SinkStatus is one sink's counters and each node's progress into it.
type SinkStatus struct {
	Name      string       `json:"name"`
	Type      string       `json:"type"`
	Written   int64        `json:"points_written"`
	Rejected  int64        `json:"points_rejected"`
	Retries   int64        `json:"retries"`
	Errors    int64        `json:"errors"`
	LastError string       `json:"last_error,omitempty"`
	Nodes     []NodeStatus `json:"nodes"`
}

// Status returns the archiver's progress.
func (a *Archiver) Status() Status {
	now := time.Now()
	byName := map[string]*SinkStatus{}
	var st Status
	for _, s := range a.cfg.Sinks {
		st.Sinks = append(st.Sinks, a.metrics.sinkStatus(s.Name, s.Type))
	}
	for i := range st.Sinks {
		byName[st.Sinks[i].Name] = &st.Sinks[i]
	}
	for _, w := range a.workers() {
		s := byName[w.sink]
		s.Nodes = append(s.Nodes, w.status(now))
	}
	for i := range st.Sinks {
		sort.Slice(st.Sinks[i].Nodes, func(x, y int) bool { return st.Sinks[i].Nodes[x].Node < st.Sinks[i].Nodes[y].Node })
	}
	return st
}

func (a *Archiver) workers() []*worker {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*worker
	for _, r := range a.nodes {
		out = append(out, r.workers...)
	}
	return out
}

// Handler serves /metrics (Prometheus), /status (JSON) and /healthz.
func (a *Archiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.Status())
	})
	return mux
}
