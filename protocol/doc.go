// Package protocol is telemesh's vocabulary: the names, URIs, time rules,
// payload shapes and error kinds of the wire contract shared by the hub, the
// data nodes and every consumer.
//
// The contract is a superset of the sisock API (Simons Observatory): with the
// sisock profile (realm "test_realm", base URI "org.simonsobservatory")
// sisock-era data nodes, scripts and Grafana bridges keep working. This
// package imports only the standard library so that every other package may
// depend on it.
package protocol
