package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	ucli "github.com/urfave/cli/v2"
)

// getCommand is the get subcommand.
func getCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "get",
		Usage:     "read historical data of some fields of a data node",
		ArgsUsage: "NODE FIELD...",
		Description: `Reads [from, to) (default: the last hour). Times are RFC 3339 or seconds
since the epoch; as in sisock, zero or negative seconds count from now
(--from -600 is ten minutes ago). With --max-points or --min-stride the node
downsamples into buckets aggregated with --agg (mean by default; minmax keeps
spikes).`,
		Flags: consumerFlags(60*time.Second,
			&ucli.DurationFlag{Name: "since", Value: time.Hour, Usage: "read the last DURATION (ignored with --from)"},
			&ucli.StringFlag{Name: "from", Usage: "start time, RFC 3339 or epoch seconds"},
			&ucli.StringFlag{Name: "to", Usage: "end time, RFC 3339 or epoch seconds (default now)"},
			&ucli.IntFlag{Name: "max-points", Usage: "at most this many points per field (0: all)"},
			&ucli.Float64Flag{Name: "min-stride", Usage: "buckets at least this many seconds wide (0: none)"},
			&ucli.StringFlag{Name: "agg", Usage: "bucket aggregation: mean, min, max, last or minmax"},
		),
		Action: get,
	}
}

func get(c *ucli.Context) error {
	node, fields, err := nodeArgs(c, 1, -1, "usage: telemesh get [flags] NODE FIELD... (telemesh fields NODE lists the fields)")
	if err != nil {
		return err
	}
	now := time.Now()
	q := consumers.Query{Fields: fields, End: protocol.FromTime(now), MaxPoints: c.Int("max-points"), MinStride: c.Float64("min-stride"), Agg: c.String("agg")}
	if s := c.String("to"); s != "" {
		if q.End, err = parseTime("to", s); err != nil {
			return err
		}
	}
	if s := c.String("from"); s != "" {
		if q.Start, err = parseTime("from", s); err != nil {
			return err
		}
	} else {
		q.Start = q.End - c.Duration("since").Seconds()
	}
	if q.Start >= q.End && q.Start > 0 && q.End > 0 {
		return fmt.Errorf("empty interval: --from %s is not before --to %s", formatTime(q.Start), formatTime(q.End))
	}
	if q.MaxPoints < 0 || q.MinStride < 0 {
		return fmt.Errorf("--max-points and --min-stride must not be negative")
	}
	if q.Agg != "" {
		if err := protocol.CheckAgg(q.Agg); err != nil {
			return fmt.Errorf("--agg: %w", err)
		}
	}
	for _, f := range fields {
		if err := protocol.CheckFieldName(f); err != nil {
			return err
		}
	}
	return withClient(c, func(ctx context.Context, cl *consumers.Client) error {
		ctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
		defer cancel()
		fs, _, err := cl.Fields(ctx, node, 1, 0)
		if err != nil {
			return err
		}
		if err := checkKnown(node, fields, fs); err != nil {
			return err
		}
		r, err := cl.GetData(ctx, node, q)
		if err != nil {
			return err
		}
		w, format := c.App.Writer, c.String("format")
		if format == "json" {
			return writeJSON(w, r, false)
		}
		return writeRows(w, format, append([]string{"time"}, fields...), dataRows(r, fields, timelinesOf(fs)))
	})
}
