package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/telemesh/telemesh/cmd/telemesh/bench"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	ucli "github.com/urfave/cli/v2"
)

// benchCommand is the bench subcommand.
func benchCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "bench",
		Usage: "measure ingest, disk, get_data, live delivery, hub registration and node memory, optionally beside VictoriaMetrics",
		Description: `Self-hosted by default: a router, the hub and a data node run in this process,
the node's database in a temporary directory. With --url the node and the
clients use that router instead (the hub measurement is then skipped).
--days and --fields size the history (30 days of 10 fields at 1 Hz by
default); use --days 1 for a quick run. The data is the bench data set: nine
sensor-like fields and one step-like integer field. With --vm it starts that
VictoriaMetrics binary on a loopback port with a temporary data directory,
loads the same readings day by day interleaved with the node, runs the same
queries in rotating order and reports each figure's ratio (telemesh/VM).`,
		Flags: append([]ucli.Flag{
			&ucli.Float64Flag{Name: "days", Value: 30, Usage: "days of history at 1 Hz to ingest"},
			&ucli.IntFlag{Name: "fields", Value: 10, Usage: "fields of history"},
			&ucli.IntFlag{Name: "max-points", Value: 1000, Usage: "size of downsampled queries"},
			&ucli.IntFlag{Name: "live-readings", Value: 200000, Usage: "readings sent on the live topic"},
			&ucli.IntFlag{Name: "hub-nodes", Value: 1000, Usage: "nodes registering with the hub (0 skips)"},
			&ucli.PathFlag{Name: "data-dir", Usage: "directory of the node's database (default: a temporary one)"},
			&ucli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
			&ucli.PathFlag{Name: "vm", Usage: "a victoria-metrics binary to measure side by side on the same data (e.g. /usr/bin/victoria-metrics)"},
		}, clientFlags()...),
		Action: func(c *ucli.Context) error {
			rc, n, err := clientConfig(c)
			if err != nil {
				return err
			}
			if !c.IsSet("url") {
				rc.URL = ""
			}
			dir := c.Path("data-dir")
			if dir == "" {
				if dir, err = os.MkdirTemp("", "telemesh-bench-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			}
			log := logger(c)
			var opened *sqlite.Store
			res, err := bench.Run(c.Context, bench.Config{
				Router: rc, Names: n,
				OpenStore: func() (store.Store, error) {
					st, err := sqlite.Open(filepath.Join(dir, "bench.db"), storeOptions(datanodes.Config{}), log.With("component", "store"))
					opened = st
					if err != nil {
						return nil, err
					}
					return st, nil
				},
				Disk: func(ctx context.Context) (int64, map[string]int64, error) {
					if opened == nil {
						return 0, nil, errors.New("not a sqlite store")
					}
					return opened.DiskUsage(ctx)
				},
				VM:   c.Path("vm"),
				Days: c.Float64("days"), Fields: c.Int("fields"), MaxPoints: c.Int("max-points"),
				LiveReadings: c.Int("live-readings"), HubNodes: c.Int("hub-nodes"),
				Logger: log,
			})
			w := c.App.Writer
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(res); jerr != nil {
					return jerr
				}
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MEASURE\tVALUE\tUNIT\tNOTE")
			for _, r := range res {
				fmt.Fprintf(tw, "%s\t%.4g\t%s\t%s\n", r.Name, r.Value, r.Unit, r.Note)
			}
			if ferr := tw.Flush(); ferr != nil {
				return ferr
			}
			return err
		},
	}
}
