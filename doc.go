// Package telemesh serves live and historical sensor data from many
// machines over one WAMP router. The code lives in the subpackages: router,
// hub, datanodes, consumers, grafana-bridge, crossbar-config and tls, wired
// together by cmd/telemesh/cli into the telemesh binary (cmd/telemesh). This
// package holds only repository-wide tests.
package telemesh
