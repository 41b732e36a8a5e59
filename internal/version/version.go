// Package version holds the telemesh release, the one variable the build
// sets (go build -ldflags "-X github.com/telemesh/telemesh/internal/version.Version=v1.2.3")
// and every component reports: the data node's announcement meta and
// `telemesh version`.
package version

// Version is the telemesh release; "0.1.0-dev" in an unstamped build.
var Version = "0.1.0-dev"
