package router

import (
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
)

// crossbarMeta shapes the router's meta events as crossbar publishes them,
// so that clients written against crossbar (sisock's hub among them) read
// them unchanged: wamp.session.on_leave carries the leaving session's id
// alone, where nexus adds its authid and authrole (which every crossbar
// release omits; on_join already is the one session-details dictionary
// both routers send, with "session", "authid" and "authrole" in it).
//
// nexus offers no hook on its meta publications, but it hands every
// publication to the realm's publish filter factory before building the
// events from it, so the factory trims the arguments there and then
// applies nexus's own black- and whitelist filter.
func crossbarMeta(msg *wamp.Publish) nxrouter.PublishFilter {
	if msg.Topic == wamp.MetaEventSessionOnLeave && len(msg.Arguments) > 1 {
		msg.Arguments = msg.Arguments[:1]
	}
	return nxrouter.NewSimplePublishFilter(msg)
}
