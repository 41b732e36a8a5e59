#!/bin/sh
# soak.sh: the soak measurement of issue 13, not part of `make test`.
# Node processes with the sim driver (200 x 10 fields x 10 Hz for 10
# minutes by default) run against a router and a hub process, the router
# SIGKILLed and restarted at half time; the log gives the RSS of router,
# hub and nodes over time, live readings lost or duplicated on some nodes,
# readings stored by every node, get_data latency and the restart's
# re-listing (cmd/telemesh/e2e/soak_test.go, TestSoak).
#
#   scripts/soak.sh [go test flags...]
#
# Sizes from the environment: TELEMESH_SOAK_NODES (200), _FIELDS (10),
# _INTERVAL (100ms), _DURATION (10m), _COUNTED (10 nodes counted live),
# _SAMPLE (30s between memory samples). It runs at nice 10: the machine
# may be shared.
set -eu
cd "$(dirname "$0")/.."
export TELEMESH_SOAK=1
exec nice -n 10 go test -count=1 -run '^TestSoak$' -v -timeout 90m ./cmd/telemesh/e2e "$@"
