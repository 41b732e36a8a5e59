package router

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
)

// quiesceTimeout bounds the wait for a realm's meta procedures to answer
// before the router closes.
const quiesceTimeout = 5 * time.Second

// closingGate shields nexus (v3.3.0) from a wedge at shutdown: a realm
// stops reading its meta session's replies before it waits for the meta
// procedure handler to finish, so a meta procedure call (wamp.session.list,
// wamp.session.get: the hub makes them) still being answered when the
// router closes blocks the handler, and with it Close, for ever. Once the
// server is closing, the gate refuses meta procedure calls from every
// session but the router's own, and quiesce waits for those already made.
type closingGate struct {
	nxrouter.Authorizer
	closing *atomic.Bool
}

func (g closingGate) Authorize(sess *wamp.Session, msg wamp.Message) (bool, error) {
	if c, ok := msg.(*wamp.Call); ok && g.closing.Load() && strings.HasPrefix(string(c.Procedure), "wamp.") {
		if role, _ := wamp.AsString(sess.Details["authrole"]); role != trustedRole {
			return false, nil
		}
	}
	return g.Authorizer.Authorize(sess, msg)
}

// quiesce closes the gate and then, in each realm, calls a meta procedure
// from an in-process session of the router's own: the dealer and the meta
// procedure handler serve calls in order, so once it is answered so is
// every meta call the gate let through before.
func (s *Server) quiesce() {
	s.closing.Store(true)
	for _, rc := range s.cfg.Realms {
		ctx, cancel := context.WithTimeout(context.Background(), quiesceTimeout)
		c, err := s.dial(ctx, rc.Name, "router-shutdown", trustedRole)
		if err == nil {
			_, err = c.Call(ctx, string(wamp.MetaProcSessionCount), nil, nil, nil, nil)
			c.Close()
		}
		cancel()
		if err != nil {
			s.log.Warn("meta procedures not quiesced before closing", "realm", rc.Name, "err", err)
		}
	}
}
