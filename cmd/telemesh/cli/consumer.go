package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
	ucli "github.com/urfave/cli/v2"
)

// consumerFlags are the flags of the commands that read from data nodes:
// the client flags, a time limit and an output format.
func consumerFlags(timeout time.Duration, extra ...ucli.Flag) []ucli.Flag {
	return append(append(clientFlags(),
		&ucli.DurationFlag{Name: "timeout", Value: timeout, Usage: "give up when the router or the node has not answered after this long"},
		&ucli.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"},
	), extra...)
}

// withClient connects a consumers.Client, waits for its session and runs
// fn with it; the client is closed when fn returns.
func withClient(c *ucli.Context, fn func(ctx context.Context, cl *consumers.Client) error) error {
	if err := checkFormat(c.String("format")); err != nil {
		return err
	}
	dial, cfg, n, err := clientDialer(c)
	if err != nil {
		return err
	}
	log := logger(c)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	cl := consumers.New(dial, n, log)
	// The session outlives fn (which Ctrl-C interrupts) until fn has
	// returned and stopped its subscriptions, so nothing is sent on a
	// session while it closes.
	rctx, stopRun := context.WithCancel(context.WithoutCancel(c.Context))
	done := make(chan struct{})
	go func() { cl.Run(rctx); close(done) }()
	defer func() { stopRun(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer wcancel()
	if err := cl.Ready(wctx); err != nil {
		if c.Context.Err() != nil {
			return nil // interrupted
		}
		return fmt.Errorf("cannot reach the router at %s (realm %s) within %v", cfg.URL, cfg.Realm, c.Duration("timeout"))
	}
	return fn(ctx, cl)
}

// clientDialer returns the dialer the client flags configure, with the
// connection settings and names it was built from.
func clientDialer(c *ucli.Context) (wampx.Dialer, wampx.Config, protocol.Names, error) {
	cfg, n, err := clientConfig(c)
	if err != nil {
		return nil, cfg, n, err
	}
	dial, err := cfg.Dialer(logger(c))
	return dial, cfg, n, err
}

// nodeArgs splits the command's arguments into a node and fields, or
// returns usage as the error unless there are at least minFields fields
// and, when maxFields is not negative, at most maxFields.
func nodeArgs(c *ucli.Context, minFields, maxFields int, usage string) (string, []string, error) {
	args, err := positional(c)
	if err != nil {
		return "", nil, err
	}
	if n := len(args) - 1; n < minFields || maxFields >= 0 && n > maxFields {
		return "", nil, errors.New(usage)
	}
	return args[0], args[1:], nil
}

// checkKnown refuses fields that a node which lists fields does not have.
func checkKnown(node string, fields []string, fs map[string]protocol.FieldInfo) error {
	for _, f := range fields {
		if _, ok := fs[f]; !ok && len(fs) > 0 {
			return protocol.Errorf(protocol.UnknownField, "node %s has no field %q (telemesh fields %s lists them)", node, f, node)
		}
	}
	return nil
}

// positional returns the command's arguments, refusing anything that
// looks like a flag the parser did not take (an unknown or misspelt one).
func positional(c *ucli.Context) ([]string, error) {
	args := c.Args().Slice()
	for _, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return nil, fmt.Errorf("%s: unknown flag (telemesh %s --help lists them)", a, c.Command.Name)
		}
	}
	return args, nil
}

func checkFormat(f string) error {
	switch f {
	case "table", "csv", "json":
		return nil
	}
	return fmt.Errorf("--format %q: want table, csv or json", f)
}

// writeRows prints a header and rows as an aligned table or as CSV.
func writeRows(w io.Writer, format string, header []string, rows [][]string) error {
	if format == "csv" {
		cw := csv.NewWriter(w)
		if header != nil {
			cw.Write(header)
		}
		cw.WriteAll(rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(upper(header), "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

func writeJSON(w io.Writer, v any, indent bool) error {
	enc := json.NewEncoder(w)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// formatTime prints float epoch seconds as RFC 3339 UTC with milliseconds.
func formatTime(s float64) string {
	if s == 0 {
		return "-"
	}
	return protocol.ToTime(s).Format("2006-01-02T15:04:05.000Z07:00")
}

// formatValue prints a reading for a table or CSV cell.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return strconv.FormatFloat(v, 'g', 10, 64)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// parseTime reads a --from or --to value: RFC 3339 or float seconds
// since the epoch.
func parseTime(flag, s string) (float64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return protocol.FromTime(t), nil
		}
	}
	return 0, fmt.Errorf("--%s %q: want RFC 3339 (2006-01-02T15:04:05Z) or seconds since the epoch", flag, s)
}

// dataRows turns a get_data result into wide rows: one per distinct time, one
// column per field, empty where a field has no value at that time. fields
// gives the columns; timelineOf says which timeline a field follows when
// known (protocol's join rule decides otherwise).
func dataRows(r *protocol.DataResult, fields []string, timelineOf map[string]string) [][]string {
	type cell struct {
		col int
		v   any
	}
	byTime := map[int64][]cell{}
	for col, f := range fields {
		s, ok := r.Series(f, timelineOf[f])
		if !ok {
			continue
		}
		for i, t := range s.Times {
			byTime[t] = append(byTime[t], cell{col, s.Values.At(i).Any()})
		}
	}
	times := make([]int64, 0, len(byTime))
	for t := range byTime {
		times = append(times, t)
	}
	slices.Sort(times)
	rows := make([][]string, 0, len(times))
	for _, t := range times {
		// minmax gives a bucket two values at one time: the k-th value of
		// a field at time t goes into the k-th row for t, in time order.
		var group [][]string
		seen := make([]int, len(fields))
		for _, c := range byTime[t] {
			k := seen[c.col]
			seen[c.col]++
			for len(group) <= k {
				row := make([]string, len(fields)+1)
				row[0] = formatTime(protocol.FromNanos(t))
				group = append(group, row)
			}
			group[k][c.col+1] = formatValue(c.v)
		}
		rows = append(rows, group...)
	}
	return rows
}
