package cli

import (
	"context"
	"sort"
	"strconv"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("fields", fieldsCommand) }

// fieldsCommand is the fields subcommand.
func fieldsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "fields",
		Usage:     "list the fields of a data node",
		ArgsUsage: "NODE",
		Flags:     consumerFlags("10s"),
		Action: func(c *ucli.Context) error {
			node, _, err := nodeArgs(c, 0, 0, "usage: telemesh fields [flags] NODE (telemesh nodes lists the nodes)")
			if err != nil {
				return err
			}
			return withClient(c, func(ctx context.Context, cl *consumers.Client) error {
				ctx, cancel := context.WithTimeout(ctx, callTimeout(c))
				defer cancel()
				fs, ts, err := cl.Fields(ctx, node, 1, 0)
				if err != nil {
					return err
				}
				w, format := c.App.Writer, c.String("format")
				if format == "json" {
					return writeJSON(w, map[string]any{"fields": fs, "timelines": ts}, true)
				}
				names := make([]string, 0, len(fs))
				for f := range fs {
					names = append(names, f)
				}
				sort.Strings(names)
				rows := make([][]string, 0, len(names))
				for _, name := range names {
					f := fs[name]
					interval := ""
					if tl, ok := ts[f.Timeline]; ok && tl.Interval != nil {
						interval = strconv.FormatFloat(*tl.Interval, 'g', 6, 64)
					}
					rows = append(rows, []string{name, f.Type, deref(f.Units), f.Timeline, interval, deref(f.Description)})
				}
				return writeRows(w, format, []string{"field", "type", "units", "timeline", "interval", "description"}, rows)
			})
		},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// timelinesOf maps each field to its timeline.
func timelinesOf(fs map[string]protocol.FieldInfo) map[string]string {
	m := make(map[string]string, len(fs))
	for name, f := range fs {
		m[name] = f.Timeline
	}
	return m
}
