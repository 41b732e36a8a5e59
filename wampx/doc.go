// Package wampx is telemesh's shared WAMP plumbing on top of the nexus
// client: dialing a router with authentication and TLS, keeping a session
// alive across router restarts, mapping protocol error kinds to and from
// WAMP error URIs, and decoding loosely typed WAMP arguments.
//
// It never imports a router: components that run beside an embedded router
// receive a Dialer that connects in-process instead.
package wampx
