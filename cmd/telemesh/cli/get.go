package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("get", getCommand) }

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
		Flags: consumerFlags("60s",
			durationFlag("since", "1h", "read the last DURATION (ignored with --from)"),
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
		since, err := flagDuration(c, "since")
		if err != nil {
			return err
		}
		q.Start = q.End - since.Seconds()
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
		ctx, cancel := context.WithTimeout(ctx, callTimeout(c))
		defer cancel()
		fs, _, err := cl.Fields(ctx, node, 1, 0)
		if err != nil {
			return err
		}
		if err := checkKnown(node, fields, fs); err != nil {
			return err
		}
		tls := timelinesOf(fs)
		r, err := cl.GetData(ctx, node, q)
		if err != nil {
			if r, tls, err = getSisock(ctx, cl, node, q, tls, err); err != nil {
				return err
			}
			logger(c).Info("the node takes no max_points or agg (a sisock node): asked for min_stride and downsampled here, as the Grafana bridge does", "node", node)
		}
		w, format := c.App.Writer, c.String("format")
		if format == "json" {
			return writeJSON(w, r, false)
		}
		return writeRows(w, format, append([]string{"time"}, fields...), dataRows(r, fields, tls))
	})
}

// getSisock repeats a get_data that failed with err the way the Grafana
// bridge does for sisock-era nodes, whose get_data takes only (field,
// start, end, min_stride) and fails on the max_points and agg keywords
// with an error outside the protocol's kinds: with min_stride alone, then
// downsampling each field here. Each field then has its own timeline
// (named after it) in the result. Any other error is returned as it is.
func getSisock(ctx context.Context, cl *consumers.Client, node string, q consumers.Query, tls map[string]string, err error) (*protocol.DataResult, map[string]string, error) {
	var pe *protocol.Error
	if (q.MaxPoints == 0 && q.Agg == "") || errors.As(err, &pe) || ctx.Err() != nil {
		return nil, nil, err
	}
	start, end := q.Start, q.End
	now := protocol.FromTime(time.Now())
	if start <= 0 {
		start += now
	}
	if end <= 0 {
		end += now
	}
	stride := q.MinStride
	if q.MaxPoints > 0 {
		stride = max(stride, downsample.RoundWidth(time.Duration((end-start)*float64(time.Second)), q.MaxPoints, 0))
	}
	r, err2 := cl.GetData(ctx, node, consumers.Query{Fields: q.Fields, Start: q.Start, End: q.End, MinStride: stride})
	if err2 != nil {
		return nil, nil, err
	}
	out := &protocol.DataResult{Data: map[string]protocol.Values{}, Timeline: map[string]protocol.TimelineData{}}
	own := map[string]string{}
	agg := q.Agg
	if agg == "" {
		agg = protocol.AggMean
	}
	w := downsample.Width(protocol.ClampNanos(start), protocol.ClampNanos(end), stride, int64(q.MaxPoints), agg)
	for _, f := range q.Fields {
		ps, ok := r.Series(f, tls[f])
		if !ok {
			continue
		}
		if w > 0 {
			if ps.Times, ps.Values, err2 = downsample.Apply(ps.Times, ps.Values, w, agg); err2 != nil {
				return nil, nil, err2
			}
		}
		ts := make([]float64, len(ps.Times))
		for i, t := range ps.Times {
			ts[i] = protocol.FromNanos(t)
		}
		out.Data[f] = ps.Values
		out.Timeline[f] = protocol.TimelineData{T: ts, FinalizedUntil: r.Timeline[ps.Timeline].FinalizedUntil}
		own[f] = f
	}
	return out, own, nil
}
