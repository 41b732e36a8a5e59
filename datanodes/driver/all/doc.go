// Package all registers every telemesh driver: import it for its side
// effects (one blank import per driver, one file per driver).
//
// Each file carries a build constraint, as telegraf's plugin lists do, so a
// smaller binary can leave drivers out: build with -tags custom for none,
// and add drivers.NAME for each driver to keep, e.g.
//
//	go build -tags custom,drivers.sim,drivers.hwmon ./cmd/telemesh
package all
