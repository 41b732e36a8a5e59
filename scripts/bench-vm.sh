#!/bin/sh
# bench-vm.sh: telemesh bench beside VictoriaMetrics on the same data, in
# one run, with every figure's ratio. Not part of `make test`.
#
#   scripts/bench-vm.sh [days] [extra telemesh bench flags...]
#
# Needs Debian's victoria-metrics (apt-get install victoria-metrics) or
# VM=/path/to/victoria-metrics. Prints the table; BENCH_JSON=1 prints JSON.
set -eu
days=${1:-30}
[ $# -gt 0 ] && shift
vm=${VM:-/usr/bin/victoria-metrics}
if [ ! -x "$vm" ]; then
	echo "bench-vm.sh: no victoria-metrics at $vm (set VM=...)" >&2
	exit 1
fi
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/telemesh" ./cmd/telemesh
json=
[ "${BENCH_JSON:-}" = 1 ] && json=--json
nice -n 10 "$bin/telemesh" bench --days "$days" --hub-nodes 0 --live-readings 20000 --vm "$vm" $json "$@"
