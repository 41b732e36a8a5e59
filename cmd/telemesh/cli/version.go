package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	ucli "github.com/urfave/cli/v2"
)

// Version is the telemesh release; the release build sets it with -ldflags.
var Version = "0.1.0-dev"

func init() {
	register(&ucli.Command{
		Name:  "version",
		Usage: "print the telemesh version and build information",
		Action: func(c *ucli.Context) error {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(c.App.Writer, "telemesh %s (commit %s, %s, %s/%s)\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
