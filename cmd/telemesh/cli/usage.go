package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// usageError reports a flag the parser refused in one line, naming the
// help to read, instead of urfave/cli's usage text followed by the error.
func usageError(c *ucli.Context, err error, _ bool) error {
	name := "telemesh"
	if c != nil && c.Command != nil && c.Command.Name != "" {
		name = "telemesh " + c.Command.FullName()
	}
	return fmt.Errorf("%w (%s --help lists the flags)", err, name)
}
