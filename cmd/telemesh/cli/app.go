// Package cli is the telemesh command line: one urfave/cli application
// whose subcommands each live in a file of their own. It is the only place
// that wires the router, hub, data nodes, consumers and bridge together.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/telemesh/telemesh/internal/version"
	ucli "github.com/urfave/cli/v2"
)

// commands holds the constructor of each subcommand, registered by its
// file. A file whose command pulls in a large part of the tree (the
// router, the hub, the bridge, the archiver, the bench, the PKI) carries a
// build constraint, as the driver list does, so that a smaller binary can
// leave it out: with -tags custom only the commands named by
// commands.NAME tags are kept, e.g. a data node's binary:
//
//	go build -tags custom,commands.node,drivers.sim,drivers.hwmon ./cmd/telemesh
//
// The consumer commands (get, fields, nodes, tail) and the small ones are
// always there.
var commands = map[string]func() *ucli.Command{}

// register adds a subcommand's constructor; each file calls it from init.
func register(name string, newCommand func() *ucli.Command) { commands[name] = newCommand }

// subcommands returns telemesh's subcommands, in name order. Each file's
// constructor builds its command afresh, so that no two apps share flag
// state (urfave/cli writes defaults and environment values into the flag
// structs as it parses).
func subcommands() []*ucli.Command {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	cmds := make([]*ucli.Command, len(names))
	for i, name := range names {
		cmds[i] = commands[name]()
	}
	return cmds
}

// Run runs the telemesh command line with args (args[0] is the program
// name), writing normal output to stdout and logs to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runApp(ctx, newApp(stdout, stderr), args)
}

// parsing serializes the parsing of command lines within one process:
// urfave/cli writes package-level flag state (its help flag) while it
// parses, so two Runs at once (an embedding program, tests) must not parse
// together. The lock is released as soon as a command's flags are parsed,
// so long-running commands run side by side.
var parsing sync.Mutex

const parsedKey = "parsed"

// runApp runs app on args, holding parsing until its command is parsed.
func runApp(ctx context.Context, app *ucli.App, args []string) error {
	parsing.Lock()
	parsed := sync.OnceFunc(parsing.Unlock)
	defer parsed()
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
	app.Metadata[parsedKey] = parsed
	return app.RunContext(ctx, interspersed(app, args))
}

// markParsed releases parsing for the run of c.
func markParsed(c *ucli.Context) {
	for _, cc := range c.Lineage() {
		if cc.App != nil && cc.App.Metadata != nil {
			if f, ok := cc.App.Metadata[parsedKey].(func()); ok {
				f()
				return
			}
		}
	}
}

// newApp builds the application with the subcommands and any extra ones
// (tests add theirs).
func newApp(stdout, stderr io.Writer, extra ...*ucli.Command) *ucli.App {
	cmds := append(subcommands(), extra...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	for _, c := range cmds {
		prepare(c, nil)
	}
	app := &ucli.App{
		Name:                 "telemesh",
		Usage:                "live and historical sensor data from many machines over one WAMP router",
		Version:              version.Version,
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

// prepare gives every flag of c (and its subcommands) an environment
// variable and makes the config file apply to the command.
func prepare(c *ucli.Command, parents []string) {
	path := append(append([]string{}, parents...), c.Name)
	c.Flags = withEnv("", c.Flags)
	c.OnUsageError = usageError
	before := c.Before
	leaf := len(c.Subcommands) == 0
	c.Before = func(ctx *ucli.Context) error {
		if leaf {
			markParsed(ctx)
		}
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
