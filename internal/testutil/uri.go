package testutil

import "github.com/gammazero/nexus/v3/wamp"

func wampURI(s string) wamp.URI { return wamp.URI(s) }
