//go:build !custom || commands.bench

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"text/tabwriter"

	"github.com/telemesh/telemesh/cmd/telemesh/bench"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("bench", benchCommand) }

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
			&ucli.IntFlag{Name: "reps", Value: 5, Usage: "times each query is timed on each side (the figure is the median)"},
			&ucli.PathFlag{Name: "profile-dir", Usage: "write a CPU and an allocation profile of each query's repetitions (the whole process) to this directory"},
		}, append(clientFlags(), memoryFlags()...)...),
		Action: func(c *ucli.Context) error {
			// The node's memory settings, so that its figures are a node's.
			stopRelease, err := applyMemory(c, logger(c))
			if err != nil {
				return err
			}
			defer stopRelease()
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
				Reps: c.Int("reps"), Profile: profiler(c.Path("profile-dir"), log),
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

// profiler returns bench's Profile hook writing to dir, or nil when dir is
// empty: per query, <name>.cpu.pprof and <name>.allocs.pprof, the latter
// holding the allocations made during the query (pprof -base of the
// allocation profile taken before it).
func profiler(dir string, log *slog.Logger) func(name string) func() {
	if dir == "" {
		return nil
	}
	slug := strings.NewReplacer(" ", "-", ",", "", "(", "", ")", "").Replace
	write := func(path string, fn func(*os.File) error) {
		f, err := os.Create(path)
		if err == nil {
			err = fn(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			log.Error("profile", "file", path, "err", err)
		}
	}
	return func(name string) func() {
		base := filepath.Join(dir, slug(name))
		write(base+".allocs-before.pprof", func(f *os.File) error { return pprof.Lookup("allocs").WriteTo(f, 0) })
		cpu, err := os.Create(base + ".cpu.pprof")
		if err == nil {
			err = pprof.StartCPUProfile(cpu)
		}
		if err != nil {
			log.Error("profile", "file", base+".cpu.pprof", "err", err)
		}
		return func() {
			if err == nil {
				pprof.StopCPUProfile()
			}
			if cpu != nil {
				cpu.Close()
			}
			write(base+".allocs.pprof", func(f *os.File) error { return pprof.Lookup("allocs").WriteTo(f, 0) })
		}
	}
}
