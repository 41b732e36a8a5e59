package datanodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// health tracks whether the hub lists the node, and since when.
type health struct {
	up     atomic.Bool
	since  atomic.Int64 // ns of the last change
	warned atomic.Bool
}

func (h *health) registered(t time.Time) {
	if !h.up.Swap(true) {
		h.since.Store(t.UnixNano())
		h.warned.Store(false)
	}
}

func (h *health) lost(t time.Time) {
	if h.up.Swap(false) {
		h.since.Store(t.UnixNano())
	}
}

// Health is the watchdog's view of the node.
type Health struct {
	// Registered reports whether the hub accepted the node's current
	// announcement; Since is when that last changed.
	Registered bool
	Since      time.Time
	// OK is false once the node has been unregistered for longer than the
	// watchdog bound, while its store cannot write, or while its store's
	// migration fails at a field; Problem then says so.
	OK      bool
	Problem string
	// Migration describes the store's migration of a database of an
	// older release while one is under way ("" otherwise). The node
	// serves meanwhile (fields not converted yet answer unavailable) and
	// stays healthy unless the migration fails.
	Migration string
}

// Health returns the node's health.
func (n *Node) Health() Health {
	h := Health{Registered: n.health.up.Load(), Since: time.Unix(0, n.health.since.Load()), OK: true}
	var problems []string
	if p := n.registrationProblem(h); p != "" {
		problems = append(problems, p)
	}
	if p := n.storeProblem(); p != "" {
		problems = append(problems, p)
	}
	if m, ok := n.storeMigration(); ok && m.Active {
		h.Migration = m.String()
		if p := migrationProblem(m); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		h.OK = false
		h.Problem = strings.Join(problems, "; ")
	}
	return h
}

// registrationProblem says how long the node has been unregistered, once
// that is past the watchdog bound.
func (n *Node) registrationProblem(h Health) string {
	if h.Registered {
		return ""
	}
	if d := n.now().Sub(h.Since); d > n.cfg.Health.Watchdog.D() {
		return fmt.Sprintf("node %s not registered with the hub for %s (watchdog %s)",
			n.cfg.Name, d.Round(time.Second), n.cfg.Health.Watchdog.D())
	}
	return ""
}

// watchdog logs once each time the node stays unregistered past the
// bound, until ctx ends. (The store logs its own failures.)
func (n *Node) watchdog(ctx context.Context) {
	t := time.NewTicker(max(n.cfg.Health.Watchdog.D()/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := Health{Registered: n.health.up.Load(), Since: time.Unix(0, n.health.since.Load())}
		if p := n.registrationProblem(h); p != "" && !n.health.warned.Swap(true) {
			n.log.Error("watchdog: " + p)
		}
	}
}

// HealthHandler serves /healthz (200, or 503 with the problem; 200 while
// the store migrates, with the progress on a second line) and /metrics
// (Prometheus text) for the node.
func (n *Node) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := n.Health()
		if !h.OK {
			http.Error(w, h.Problem, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
		if h.Migration != "" {
			fmt.Fprintln(w, h.Migration)
		}
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		h, st := n.Health(), n.Stats()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		b2i := map[bool]int{false: 0, true: 1}
		fmt.Fprintf(w, "# HELP telemesh_node_registered Whether the hub lists the node.\n# TYPE telemesh_node_registered gauge\ntelemesh_node_registered %d\n", b2i[h.Registered])
		fmt.Fprintf(w, "# HELP telemesh_node_healthy Zero once the node is unregistered past its watchdog bound.\n# TYPE telemesh_node_healthy gauge\ntelemesh_node_healthy %d\n", b2i[h.OK])
		fmt.Fprintf(w, "# HELP telemesh_node_state_seconds Time since the registration state last changed.\n# TYPE telemesh_node_state_seconds gauge\ntelemesh_node_state_seconds %g\n", n.now().Sub(h.Since).Seconds())
		fmt.Fprintf(w, "# TYPE telemesh_node_live_sent_total counter\ntelemesh_node_live_sent_total %d\n", st.LiveSent)
		fmt.Fprintf(w, "# TYPE telemesh_node_live_lost_total counter\ntelemesh_node_live_lost_total %d\n", st.LiveLost)
		fmt.Fprintf(w, "# TYPE telemesh_node_sink_errors_total counter\ntelemesh_node_sink_errors_total %d\n", st.SinkErrors)
		if ws, ok := n.writeStats(); ok {
			writeStoreMetrics(w, ws)
		}
		if m, ok := n.storeMigration(); ok {
			writeMigrationMetrics(w, m)
		}
		n.writeMemoryMetrics(w)
	})
	return mux
}

// serveHealth serves HealthHandler on the configured address until ctx
// ends; ready gets the bound address.
func (n *Node) serveHealth(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: n.HealthHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
