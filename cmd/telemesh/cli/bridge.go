//go:build !custom || commands.bridge

package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
)

func init() { register("bridge", bridgeCommand) }

// bridgeCommand is the bridge subcommand.
func bridgeCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "bridge",
		Usage: "serve the data nodes to Grafana over HTTP (SimpleJSON and JSON datasource protocols)",
		Description: `Serves the SimpleJSON (grafana-simple-json-datasource) and JSON
   (simpod-json-datasource) protocols: metrics are node::field, e.g.
   sim::temperature. POST /metrics is the JSON datasource's metric list,
   GET /metrics is Prometheus text; GET /healthz is open without auth.

   Secrets: prefer --auth-token-file / --basic-auth-file or the environment
   (TELEMESH_AUTH_TOKEN, TELEMESH_BASIC_AUTH) over the command line.`,
		Flags: append(clientFlags(),
			&ucli.StringFlag{Name: "listen", Value: bridge.DefaultListen, Usage: "HTTP address to serve on"},
			&ucli.StringFlag{Name: "tls-cert", Usage: "PEM certificate: serve HTTPS (with --tls-key)"},
			&ucli.StringFlag{Name: "tls-key", Usage: "PEM private key of --tls-cert"},
			&ucli.StringFlag{Name: "auth-token", Usage: "require \"Authorization: Bearer <token>\""},
			&ucli.StringFlag{Name: "auth-token-file", Usage: "file holding the bearer token"},
			&ucli.StringFlag{Name: "basic-auth", Usage: "require HTTP basic auth as user:password"},
			&ucli.StringFlag{Name: "basic-auth-file", Usage: "file holding user:password"},
			&ucli.BoolFlag{Name: "no-auth", Usage: "serve without authentication on a non-loopback address (refused otherwise)"},
			&ucli.StringSliceFlag{Name: "cors-origin", Usage: "browser origin allowed to read answers (repeatable, * for any); none by default"},
			durationFlag("node-timeout", "10s", "bound on each data node call"),
			durationFlag("max-range", "3660d", "longest time range a query may span"),
			&ucli.IntFlag{Name: "max-points", Value: 100000, Usage: "cap on a query's maxDataPoints"},
			&ucli.StringFlag{Name: "default-agg", Value: "mean", Usage: "aggregation of queries that name none: mean, min, max, last or minmax"},
		),
		Action: runBridge,
	}
}

// secretFlag returns the value of flag, or the trimmed content of the file
// flag names; giving both is an error.
func secretFlag(c *ucli.Context, flag, fileFlag string) (string, error) {
	v, f := c.String(flag), c.String(fileFlag)
	if v != "" && f != "" {
		return "", fmt.Errorf("give --%s or --%s, not both", flag, fileFlag)
	}
	if f == "" {
		return v, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", fileFlag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", fileFlag, f)
	}
	return s, nil
}

// bridgeConfig builds the bridge configuration from the flags.
func bridgeConfig(c *ucli.Context) (bridge.Config, error) {
	nodeTimeout, err := flagDuration(c, "node-timeout")
	if err != nil {
		return bridge.Config{}, err
	}
	maxRange, err := flagDuration(c, "max-range")
	if err != nil {
		return bridge.Config{}, err
	}
	cfg := bridge.Config{
		Listen:         c.String("listen"),
		TLSCert:        c.String("tls-cert"),
		TLSKey:         c.String("tls-key"),
		AllowAnonymous: c.Bool("no-auth"),
		CORSOrigins:    c.StringSlice("cors-origin"),
		Options: bridge.Options{
			NodeTimeout: nodeTimeout,
			MaxRange:    maxRange,
			MaxPoints:   c.Int("max-points"),
			DefaultAgg:  c.String("default-agg"),
		},
	}
	if cfg.AuthToken, err = secretFlag(c, "auth-token", "auth-token-file"); err != nil {
		return cfg, err
	}
	basic, err := secretFlag(c, "basic-auth", "basic-auth-file")
	if err != nil {
		return cfg, err
	}
	if basic != "" {
		u, p, ok := strings.Cut(basic, ":")
		if !ok || u == "" || p == "" {
			return cfg, errors.New("--basic-auth: want user:password")
		}
		cfg.BasicUser, cfg.BasicPassword = u, p
	}
	if cfg.Options.NodeTimeout <= 0 || cfg.Options.MaxRange <= 0 || cfg.Options.MaxPoints <= 0 {
		return cfg, errors.New("--node-timeout, --max-range and --max-points must be positive")
	}
	return cfg, cfg.Validate()
}

func runBridge(c *ucli.Context) error {
	bc, err := bridgeConfig(c)
	if err != nil {
		return err
	}
	wc, n, err := clientConfig(c)
	if err != nil {
		return err
	}
	log := logger(c).With("component", "bridge")
	dial, err := wc.Dialer(log)
	if err != nil {
		return err
	}
	cl := consumers.New(dial, n, log)
	srv, err := bridge.NewServer(bc, cl, log)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(c.Context)
	g.Go(func() error { return ignoreCanceled(cl.Run(ctx)) })
	g.Go(func() error { return ignoreCanceled(srv.Run(ctx)) })
	if err := g.Wait(); err != nil && c.Context.Err() == nil {
		return err
	}
	return nil
}
