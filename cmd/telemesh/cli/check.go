package cli

import (
	"context"
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"
)

// CheckArgs parses a telemesh command line exactly as Run would, without
// running any command: unknown commands, unknown flags and malformed flag
// values are errors. Deployment tests use it to prove that every command a
// compose file or systemd unit runs is valid.
func CheckArgs(args []string) error {
	return checkArgs(newApp(io.Discard, io.Discard), args)
}

func checkArgs(app *ucli.App, args []string) error {
	noop := func(*ucli.Context) error { return nil }
	var walk func([]*ucli.Command)
	walk = func(cs []*ucli.Command) {
		for _, c := range cs {
			if c.Action != nil {
				c.Action = noop
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	var missing string
	app.CommandNotFound = func(_ *ucli.Context, name string) { missing = name }
	if err := app.RunContext(context.Background(), interspersed(app, append([]string{"telemesh"}, args...))); err != nil {
		return err
	}
	if missing != "" {
		return fmt.Errorf("no such command %q", missing)
	}
	return nil
}
