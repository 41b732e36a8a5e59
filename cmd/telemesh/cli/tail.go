package cli

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	ucli "github.com/urfave/cli/v2"
)

// tailCommand is the tail subcommand.
func tailCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "tail",
		Usage:     "print the live readings of a data node until interrupted",
		ArgsUsage: "NODE [FIELD...]",
		Flags:     consumerFlags(10 * time.Second),
		Action:    tail,
	}
}

func tail(c *ucli.Context) error {
	node, fields, err := nodeArgs(c, 0, -1, "usage: telemesh tail [flags] NODE [FIELD...] (telemesh nodes lists the nodes)")
	if err != nil {
		return err
	}
	return withClient(c, func(ctx context.Context, cl *consumers.Client) error {
		fctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
		fs, _, err := cl.Fields(fctx, node, 1, 0)
		cancel()
		if err != nil {
			return err
		}
		if err := checkKnown(node, fields, fs); err != nil {
			return err
		}
		if len(fields) == 0 {
			for f := range fs {
				fields = append(fields, f)
			}
			sort.Strings(fields)
		}
		want := map[string]bool{}
		for _, f := range fields {
			want[f] = true
		}
		tls := timelinesOf(fs)
		w, format := c.App.Writer, c.String("format")
		header := append([]string{"time"}, fields...)
		first := true
		batches := make(chan *protocol.DataResult, 256)
		stop, err := cl.Subscribe(ctx, node, func(r *protocol.DataResult) {
			select {
			case batches <- r:
			default: // a terminal that cannot keep up drops batches rather than the session
			}
		})
		if err != nil {
			return err
		}
		defer stop()
		if format == "table" {
			// Column widths cannot be known ahead of a stream: print the
			// header once and tab-separate.
			format = "table-stream"
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case r := <-batches:
				if format == "json" {
					out := &protocol.DataResult{Data: map[string]protocol.Values{}, Timeline: r.Timeline}
					for f, v := range r.Data {
						if want[f] {
							out.Data[f] = v
						}
					}
					writeJSON(w, out, false)
				} else {
					rows := dataRows(r, fields, tls)
					h := header
					if !first {
						h = nil
					}
					if format == "csv" {
						writeRows(w, "csv", h, rows)
					} else {
						if h != nil {
							rows = append([][]string{upper(h)}, rows...)
						}
						for _, row := range rows {
							for i, cell := range row {
								if i > 0 {
									fmt.Fprint(w, "\t")
								}
								fmt.Fprint(w, cell)
							}
							fmt.Fprintln(w)
						}
					}
					first = false
				}
			}
		}
	})
}
