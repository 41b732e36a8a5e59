// Package routertest runs telemesh's router for the tests of other
// packages: in-process, on a loopback port, with anonymous sessions that
// may do anything. Tests use it instead of a bare nexus router so that
// their sessions go through the router's own peers (which shield nexus's
// broker from sending to a closing session) and meta-event shapes, as in a
// deployment. Only _test.go files import it.
package routertest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/router"
)

// Config is the configuration Start runs: WebSocket on a loopback port the
// kernel picks, no RawSocket, and one realm named realm with the default
// roles whose anonymous sessions (from loopback) are admins: they may call,
// register, publish and subscribe to anything and ask for caller
// disclosure.
func Config(realm string) router.Config { return router.LoopbackConfig(realm) }

// Start runs a router of Config(realm) until the test ends. Its
// WebSocketURL is the address to dial; LocalDialer gives in-process
// sessions of a chosen authid and role.
func Start(t testing.TB, realm string) *router.Server {
	t.Helper()
	srv := newServer(t, Config(realm))
	testutil.Serve(t, srv.Run, srv.Ready())
	return srv
}

func newServer(t testing.TB, cfg router.Config) *router.Server {
	t.Helper()
	srv, err := router.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// Restartable is a router on a fixed loopback address that a test stops
// and starts again, as a router process restarts (an outage). It runs from
// NewRestartable until Stop or the end of the test. Start and Stop are
// called from the test's goroutine.
type Restartable struct {
	t   testing.TB
	cfg router.Config
	// mount adds handlers to each new server before it runs.
	mount []func(*router.Server)
	stop  func() // nil while stopped
}

// NewRestartable starts a router of cfg (Config, say) with its WebSocket
// listener moved to a free loopback port that it keeps across restarts.
// Each mount is called on every instance before it runs, to serve more on
// its HTTP listener (the dashboard, say) as the commands that run a router
// do.
func NewRestartable(t testing.TB, cfg router.Config, mount ...func(*router.Server)) *Restartable {
	t.Helper()
	cfg.Listeners.WebSocket.Address = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	if cfg.Listeners.WebSocket.Path == "" {
		cfg.Listeners.WebSocket.Path = router.DefaultWSPath
	}
	r := &Restartable{t: t, cfg: cfg, mount: mount}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the router's WebSocket (and HTTP) listener address, the same
// across restarts.
func (r *Restartable) Addr() string { return r.cfg.Listeners.WebSocket.Address }

// URL is the router's ws:// URL, the same across restarts.
func (r *Restartable) URL() string {
	return "ws://" + r.Addr() + r.cfg.Listeners.WebSocket.Path
}

// Start runs the router again after Stop, once its address is free (the
// previous instance may hold it for a moment); it does nothing while the
// router runs.
func (r *Restartable) Start() {
	r.t.Helper()
	if r.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	testutil.Eventually(r.t, 10*time.Second, "the router up", func() bool {
		srv := newServer(r.t, r.cfg)
		for _, m := range r.mount {
			m(srv)
		}
		go func() { done <- srv.Run(ctx) }()
		select {
		case <-srv.Ready():
			return true
		case <-done:
			return false
		}
	})
	r.stop = func() { cancel(); <-done }
}

// Stop closes the router, its listener and every session, and returns
// once it has; it does nothing while the router is stopped.
func (r *Restartable) Stop() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}
