//go:build race

package cli

// raceSlowdown scales the time bounds of tests that do TLS handshakes,
// which the race detector slows several times.
const raceSlowdown = 5
