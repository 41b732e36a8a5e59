// Package cli is the telemesh command line: one urfave/cli application
// whose subcommands each live in a file of their own. It is the only place
// that wires the router, hub, data nodes, consumers and bridge together.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// commands holds every subcommand; each subcommand file adds its own in init.
var commands []*ucli.Command

func register(c *ucli.Command) { commands = append(commands, c) }

// Run runs the telemesh command line with args (args[0] is the program
// name), writing normal output to stdout and logs to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := newApp(stdout, stderr)
	return app.RunContext(ctx, interspersed(app, args))
}

func newApp(stdout, stderr io.Writer) *ucli.App {
	cmds := cloneCommands(commands)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	for _, c := range cmds {
		prepare(c, nil)
	}
	app := &ucli.App{
		Name:                 "telemesh",
		Usage:                "live and historical sensor data from many machines over one WAMP router",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Flags: withEnv("", []ucli.Flag{
			&ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML file with flag values: top-level keys for global flags, one section per subcommand"},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&ucli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		}),
		Commands: cmds,
		Before: func(c *ucli.Context) error {
			if err := loadConfigFile(c); err != nil {
				return err
			}
			logger, err := newLogger(c.String("log-level"), c.String("log-format"), stderr)
			if err != nil {
				return err
			}
			if c.App.Metadata == nil {
				c.App.Metadata = map[string]any{}
			}
			c.App.Metadata["logger"] = logger
			return nil
		},
		ExitErrHandler: func(*ucli.Context, error) {}, // main prints errors and exits
		OnUsageError:   usageError,
	}
	return app
}

// cloneCommands copies the command tree, flags included, so that preparing,
// stubbing or running one app never changes another's: urfave/cli writes
// environment values and defaults into the flag structs as it parses.
func cloneCommands(cs []*ucli.Command) []*ucli.Command {
	out := make([]*ucli.Command, len(cs))
	for i, c := range cs {
		cc := *c
		cc.Subcommands = cloneCommands(c.Subcommands)
		cc.Flags = cloneFlags(c.Flags)
		out[i] = &cc
	}
	return out
}

// cloneFlags shallow-copies each flag struct (every urfave flag type is a
// pointer to a struct).
func cloneFlags(fs []ucli.Flag) []ucli.Flag {
	out := make([]ucli.Flag, len(fs))
	for i, f := range fs {
		v := reflect.ValueOf(f)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			out[i] = f
			continue
		}
		n := reflect.New(v.Elem().Type())
		n.Elem().Set(v.Elem())
		out[i] = n.Interface().(ucli.Flag)
	}
	return out
}

// prepare gives every flag of c (and its subcommands) an environment
// variable and makes the config file apply to the command.
func prepare(c *ucli.Command, parents []string) {
	path := append(append([]string{}, parents...), c.Name)
	c.Flags = withEnv("", c.Flags)
	c.OnUsageError = usageError
	before := c.Before
	c.Before = func(ctx *ucli.Context) error {
		if err := applyConfigSection(ctx, path); err != nil {
			return err
		}
		if before != nil {
			return before(ctx)
		}
		return nil
	}
	for _, s := range c.Subcommands {
		prepare(s, path)
	}
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// logger returns the logger that the app's Before built.
func logger(c *ucli.Context) *slog.Logger {
	for _, cc := range c.Lineage() {
		if cc.App != nil && cc.App.Metadata != nil {
			if l, ok := cc.App.Metadata["logger"].(*slog.Logger); ok {
				return l
			}
		}
	}
	return slog.New(slog.DiscardHandler)
}
