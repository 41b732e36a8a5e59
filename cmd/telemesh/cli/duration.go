package cli

import (
	"fmt"
	"time"

	"github.com/telemesh/telemesh/protocol"
	ucli "github.com/urfave/cli/v2"
)

// durationFlag is a flag holding a duration in protocol.ParseDuration's
// syntax (Go durations plus d and w: 7d, 2w). It is a string flag parsed
// where it is read, so a bad value ends the command with one line rather
// than the flag parser's usage text.
func durationFlag(name, def, usage string) *ucli.StringFlag {
	return &ucli.StringFlag{Name: name, Value: def, Usage: usage + " (e.g. 30s, 15m, 2h, 7d, 2w)"}
}

// flagDuration reads a durationFlag.
func flagDuration(c *ucli.Context, name string) (time.Duration, error) {
	d, err := protocol.ParseDuration(c.String(name))
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return d, nil
}
