//go:build !custom || commands.router

package cli

import (
	"fmt"

	"github.com/telemesh/telemesh/crossbar-config/crossbar"
	"github.com/telemesh/telemesh/router"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("router", routerCommand) }

// routerCommand is the router subcommand.
func routerCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "router",
		Usage: "run the WAMP router (WebSocket and RawSocket, JSON/msgpack/CBOR, TLS, roles)",
		Description: `Without --config the router serves one realm (the profile's, or --realm and
--base-uri) with the default roles hub, datanode, consumer and admin, and
admits anonymous sessions from loopback only, with --anonymous-role (consumer
by default). With --config it reads a router YAML file (see router/README.md);
with --crossbar-config it converts a crossbar.io config.json.
--ws-listen, --rs-listen and --tls-cert/--tls-key override the file's
listeners when given. The WebSocket listener also serves /metrics
(Prometheus) and /healthz.`,
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "config", EnvVars: []string{"TELEMESH_ROUTER_CONFIG"}, Usage: "router YAML file (listeners, realms, roles, authentication)"},
			&ucli.StringFlag{Name: "crossbar-config", Usage: "crossbar.io config.json to serve instead of --config (its realms, roles, authentication and transports)"},
			&ucli.StringFlag{Name: "ws-listen", Value: router.DefaultWSAddress, Usage: "WebSocket listen address; empty disables"},
			&ucli.StringFlag{Name: "rs-listen", Value: router.DefaultRSAddress, Usage: "RawSocket (TCP) listen address; empty disables"},
			&ucli.StringFlag{Name: "tls-cert", Usage: "PEM certificate for both listeners (see telemesh tls init)"},
			&ucli.StringFlag{Name: "tls-key", Usage: "PEM key of --tls-cert"},
			&ucli.StringFlag{Name: "anonymous-role", Value: "consumer", Usage: "role of anonymous loopback sessions without --config; empty refuses them"},
			&ucli.BoolFlag{Name: "dashboard", Value: true, Usage: "serve the live web dashboard at / of the WebSocket listener (for the first realm; its base URI from --profile/--base-uri)"},
		}, withoutConfig(namingFlags())...),
		Action: runRouter,
	}
}

func runRouter(c *ucli.Context) error {
	cfg, err := routerConfig(c)
	if err != nil {
		return err
	}
	log := logger(c)
	srv, err := router.New(cfg, log.With("component", "router"))
	if err != nil {
		return err
	}
	for _, r := range cfg.Realms {
		log.Info("realm", "name", r.Name, "roles", len(r.Roles))
	}
	if c.Bool("dashboard") && len(cfg.Realms) > 0 && cfg.Listeners.WebSocket.Address != "" {
		n, err := names(c)
		if err != nil {
			return err
		}
		n.Realm = cfg.Realms[0].Name
		if mountDashboard(srv, n, cfg.Listeners.WebSocket.Path) {
			log.Info("live dashboard", "path", "/", "realm", n.Realm, "base_uri", n.Base)
		}
	}
	return srv.Run(c.Context)
}

// withoutConfig marks naming flags as applying only without --config.
func withoutConfig(flags []ucli.Flag) []ucli.Flag {
	for _, f := range flags {
		if sf, ok := f.(*ucli.StringFlag); ok {
			sf.Usage += "; only without --config"
		}
	}
	return flags
}

// routerConfig builds the router configuration from --config or the
// naming flags, then applies the listener flags.
func routerConfig(c *ucli.Context) (router.Config, error) {
	var cfg router.Config
	fromFile := c.String("config") != "" || c.String("crossbar-config") != ""
	switch {
	case c.String("config") != "" && c.String("crossbar-config") != "":
		return cfg, fmt.Errorf("give --config or --crossbar-config, not both")
	case c.String("crossbar-config") != "":
		var err error
		if cfg, err = crossbar.Load(c.String("crossbar-config"), logger(c)); err != nil {
			return cfg, err
		}
	case c.String("config") != "":
		var err error
		if cfg, err = router.LoadConfig(c.String("config")); err != nil {
			return cfg, err
		}
	default:
		n, err := names(c)
		if err != nil {
			return cfg, err
		}
		cfg = router.DefaultConfig()
		cfg.Realms[0].Name = n.Realm
		cfg.Realms[0].Roles = router.DefaultRoles(n)
		cfg.Realms[0].Auth.Anonymous = nil
		if role := c.String("anonymous-role"); role != "" {
			cfg.Realms[0].Auth.Anonymous = &router.AnonymousAuth{Role: role, LoopbackOnly: true}
		}
	}
	if !fromFile || c.IsSet("ws-listen") {
		cfg.Listeners.WebSocket.Address = c.String("ws-listen")
	}
	if !fromFile || c.IsSet("rs-listen") {
		cfg.Listeners.RawSocket.Address = c.String("rs-listen")
	}
	if cert, key := c.String("tls-cert"), c.String("tls-key"); cert != "" || key != "" {
		t := router.TLSConfig{Cert: cert, Key: key}
		cfg.Listeners.WebSocket.TLS, cfg.Listeners.RawSocket.TLS = t, t
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("router configuration: %w", err)
	}
	return cfg, nil
}
