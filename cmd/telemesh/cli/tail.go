package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("tail", tailCommand) }

// tailCommand is the tail subcommand.
func tailCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "tail",
		Usage:     "print the live readings of a data node until interrupted",
		ArgsUsage: "NODE [FIELD...]",
		Flags:     consumerFlags("10s"),
		Action:    tail,
	}
}

func tail(c *ucli.Context) error {
	node, fields, err := nodeArgs(c, 0, -1, "usage: telemesh tail [flags] NODE [FIELD...] (telemesh nodes lists the nodes)")
	if err != nil {
		return err
	}
	return withClient(c, func(ctx context.Context, cl *consumers.Client) error {
		fctx, cancel := context.WithTimeout(ctx, callTimeout(c))
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
		table := newStreamTable(header)
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
						table.write(w, h != nil, rows)
					}
					first = false
				}
			}
		}
	})
}

// streamTable aligns the columns of a table printed as it streams: widths
// cannot wait for every row, so each column is as wide as its header or
// the widest cell formatValue and formatTime print, whichever is wider,
// with get's two spaces between columns.
type streamTable struct {
	header []string
	widths []int
}

// Widest cells: an RFC 3339 time with milliseconds, and a number such as
// -0.000123457 or -1.2346e+7.
const timeWidth, valueWidth = len("2006-01-02T15:04:05.000Z"), len("-0.000123457")

func newStreamTable(header []string) *streamTable {
	t := &streamTable{header: upper(header), widths: make([]int, len(header))}
	for i, h := range header {
		t.widths[i] = max(len(h), valueWidth)
	}
	t.widths[0] = max(len(header[0]), timeWidth)
	return t
}

func (t *streamTable) write(w io.Writer, header bool, rows [][]string) {
	if header {
		t.line(w, t.header)
	}
	for _, r := range rows {
		t.line(w, r)
	}
}

func (t *streamTable) line(w io.Writer, cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", max(t.widths[i]-len(c), 0)+2))
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
}
