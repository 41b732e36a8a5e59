package cli

import (
	"context"
	"sort"
	"strings"

	"github.com/telemesh/telemesh/consumers"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("nodes", nodesCommand) }

// nodesCommand is the nodes subcommand.
func nodesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "nodes",
		Usage: "list the data nodes the hub knows",
		Flags: consumerFlags("10s"),
		Action: func(c *ucli.Context) error {
			return withClient(c, func(ctx context.Context, cl *consumers.Client) error {
				ctx, cancel := context.WithTimeout(ctx, callTimeout(c))
				defer cancel()
				nodes, err := cl.Nodes(ctx)
				if err != nil {
					return err
				}
				w, format := c.App.Writer, c.String("format")
				if format == "json" {
					return writeJSON(w, nodes, true)
				}
				rows := make([][]string, 0, len(nodes))
				for _, n := range nodes {
					fs := make([]string, 0, len(n.Fields))
					for f := range n.Fields {
						fs = append(fs, f)
					}
					sort.Strings(fs)
					fields := strings.Join(fs, ",")
					if format == "table" {
						if len(fields) > 60 {
							fields = fields[:57] + "..."
						}
						if fields == "" {
							fields = "-"
						}
					}
					rows = append(rows, []string{n.Name, n.Description, fields, formatTime(n.Joined)})
				}
				return writeRows(w, format, []string{"name", "description", "fields", "joined"}, rows)
			})
		},
	}
}
