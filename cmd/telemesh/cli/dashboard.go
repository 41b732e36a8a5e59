//go:build !custom || commands.router || commands.up

package cli

import (
	"github.com/telemesh/telemesh/consumers/web"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
)

// mountDashboard serves the live web dashboard at / of the router's
// WebSocket listener, so the page and WAMP share one origin, unless the
// configuration serves its own pages there (a crossbar static path). It
// reports whether it mounted the dashboard.
func mountDashboard(srv *router.Server, n protocol.Names, wsPath string) bool {
	if srv.Serves("/") {
		return false
	}
	if wsPath == "" {
		wsPath = router.DefaultWSPath
	}
	srv.Handle("/", web.Handler(web.Options{Realm: n.Realm, Base: n.Base, WSPath: wsPath}))
	return true
}
