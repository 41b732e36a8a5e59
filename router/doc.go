// Package router is telemesh's WAMP router: a gammazero/nexus router with
// crossbar-style static configuration (realms, roles with URI permissions,
// anonymous, ticket, WAMP-CRA and cryptosign authentication), WebSocket and
// RawSocket listeners with optional TLS, Prometheus metrics and in-process
// sessions for embedded components.
package router
