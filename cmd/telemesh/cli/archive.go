//go:build !custom || commands.archive

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/hubsource"
	_ "github.com/telemesh/telemesh/archive/sink/all" // every sink type
)

func init() { register("archive", archiveCommand) }

// archiveCommand is telemesh archive.
func archiveCommand() *ucli.Command {
	fileFlag := &ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "archiver configuration (YAML: data_dir, sinks, ...)"}
	return &ucli.Command{
		Name:  "archive",
		Usage: "copy every data node's readings into InfluxDB, VictoriaMetrics or PostgreSQL, with nothing lost",
		Subcommands: []*ucli.Command{
			{
				Name:  "run",
				Usage: "follow the hub and archive every node into the configured sinks",
				Description: `Keeps a durable cursor per sink, node and field in data_dir, so a
   restart or an outage of the router or a sink resumes with no gap.
   Serves /metrics and /status on the configuration's listen address.`,
				Flags:  append(clientFlags(), fileFlag),
				Action: runArchive,
			},
			{
				Name:   "check",
				Usage:  "check an archiver configuration without connecting",
				Flags:  []ucli.Flag{fileFlag},
				Action: checkArchive,
			},
			{
				Name:  "status",
				Usage: "show a running archiver's lag, points written, retries and errors",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "addr", Value: archive.DefaultListen, Usage: "the archiver's listen address"},
					&ucli.StringFlag{Name: "format", Value: "table", Usage: "table, tsv or json"},
					&ucli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "bound on the request"},
				},
				Action: archiveStatus,
			},
		},
	}
}

func checkArchive(c *ucli.Context) error {
	cfg, sinks, err := archive.LoadConfig(c.String("file"))
	if err != nil {
		return err
	}
	for _, s := range sinks {
		s.Close()
	}
	fmt.Fprintf(c.App.Writer, "%s: %d sinks, cursors in %s\n", c.String("file"), len(cfg.Sinks), cfg.DataDir)
	return nil
}

func runArchive(c *ucli.Context) error {
	cfg, sinks, err := archive.LoadConfig(c.String("file"))
	if err != nil {
		return err
	}
	wc, n, err := clientConfig(c)
	if err != nil {
		return err
	}
	log := logger(c).With("component", "archive")
	dial, err := wc.Dialer(log)
	if err != nil {
		return err
	}
	return hubsource.Run(c.Context, cfg, sinks, dial, n, log)
}

func archiveStatus(c *ucli.Context) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.String("addr")+"/status", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no archiver answers at %s: %w", c.String("addr"), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("archiver at %s: %s", c.String("addr"), resp.Status)
	}
	var st archive.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("archiver at %s: %w", c.String("addr"), err)
	}
	w, format := c.App.Writer, c.String("format")
	if format == "json" {
		return writeJSON(w, st, true)
	}
	secs := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	var rows [][]string
	for _, s := range st.Sinks {
		rows = append(rows, []string{s.Name, "*", "", "", strconv.FormatInt(s.Written, 10), strconv.FormatInt(s.Rejected, 10),
			strconv.FormatInt(s.Retries, 10), strconv.FormatInt(s.Errors, 10), s.LastError})
		for _, n := range s.Nodes {
			state := "live"
			if n.CatchingUp {
				state = "catching up"
			}
			rows = append(rows, []string{s.Name, n.Node, secs(n.Lag), secs(n.CursorLag), "", "", "", state, ""})
		}
	}
	if len(rows) == 0 {
		return errors.New("the archiver has no sinks")
	}
	return writeRows(w, format, []string{"sink", "node", "lag_s", "cursor_lag_s", "written", "rejected", "retries", "errors/state", "last_error"}, rows)
}
