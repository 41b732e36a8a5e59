package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/telemesh/telemesh/internal/version"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("version", versionCommand) }

// versionCommand is the version subcommand.
func versionCommand() *ucli.Command {
	return &ucli.Command{
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
			fmt.Fprintf(c.App.Writer, "telemesh %s (commit %s, %s, %s/%s)\n", version.Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
