// Package routertest runs telemesh's router for the tests of other
// packages: in-process, on a loopback port, with anonymous sessions that
// may do anything. Tests use it instead of a bare nexus router so that
// their sessions go through the router's own peers (which shield nexus's
// broker from sending to a closing session) and meta-event shapes, as in a
// deployment. Only _test.go files import it.
package routertest

import (
	"log/slog"
	"testing"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
)

// Start runs telemesh's router until the test ends, serving WebSocket on a
// free loopback port with one realm named realm. The realm has the default
// roles, and anonymous sessions (from loopback) are admins: they may call,
// register, publish and subscribe to anything and ask for caller
// disclosure. Its WebSocketURL is the address to dial; LocalDialer gives
// in-process sessions of a chosen authid and role.
func Start(t testing.TB, realm string) *router.Server {
	t.Helper()
	cfg := router.DefaultConfig()
	cfg.Listeners.WebSocket.Address, cfg.Listeners.RawSocket.Address = "127.0.0.1:0", ""
	cfg.Realms[0].Name = realm
	cfg.Realms[0].Auth.Anonymous = &router.AnonymousAuth{Role: protocol.RoleAdmin, LoopbackOnly: true}
	srv, err := router.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, srv.Run, srv.Ready())
	return srv
}
