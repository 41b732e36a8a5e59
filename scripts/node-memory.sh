#!/bin/sh
# node-memory.sh: the node memory measurement of issue 11, not part of
# `make test`. It builds the release binary and runs one node process
# (sim driver, three fields at 1 Hz, a day of history written at start)
# against a router and a hub; the log gives the node's resident memory
# (private and mapped binary apart) while steady, its peak during the
# backfill and while serving five raw days, and the Go runtime's and
# SQLite's shares (cmd/telemesh/e2e/nodemem_test.go, TestNodeMemory).
#
#   scripts/node-memory.sh [go test flags...]
#
# The mapped binary counts in the resident size as far as the kernel maps
# it: kernels that cache executables in large folios (ext4 on Linux 6.16
# and later) map nearly all of it. TELEMESH_NODE_MEMORY_BIN=/dev/shm/...
# runs a copy from there (tmpfs caches in small pages), which shows the
# pages the node really touches.
#
# NODE_BUILD=1 runs the node from a data node's own build (make
# node-build: no router, hub, bridge or archiver in it) beside the full
# build's router and hub.
set -eu
cd "$(dirname "$0")/.."
make build
bin=$PWD/bin/telemesh
node=
if [ -n "${NODE_BUILD:-}" ]; then
	make node-build
	node=$PWD/bin/node/telemesh
fi
if [ -n "${TELEMESH_NODE_MEMORY_BIN:-}" ]; then
	cp "${node:-$bin}" "$TELEMESH_NODE_MEMORY_BIN"
	if [ -n "$node" ]; then node=$TELEMESH_NODE_MEMORY_BIN; else bin=$TELEMESH_NODE_MEMORY_BIN; fi
fi
export TELEMESH_NODE_MEMORY=1 TELEMESH_E2E_BIN="$bin" TELEMESH_NODE_MEMORY_NODE_BIN="$node"
exec go test -count=1 -run '^TestNodeMemory$' -v -timeout 10m ./cmd/telemesh/e2e "$@"
