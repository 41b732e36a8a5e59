package cli

import (
	"context"
	"errors"

	"github.com/telemesh/telemesh/datanodes"
	_ "github.com/telemesh/telemesh/datanodes/driver/all" // every driver
	ucli "github.com/urfave/cli/v2"
)

func init() { register("node", nodeCommand) }

// nodeCommand is the node subcommand.
func nodeCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "node",
		Usage: "run a data node: drivers feed a local store served over get_fields/get_data",
		Description: `Runs the drivers of a node file (--config node.yaml), keeps their readings in
<data-dir>/<name>.db, publishes them live on B.consumer.<name>.data and answers
get_fields and get_data, announcing itself to the hub (and again whenever the
hub restarts).

Anonymous sessions are read-only, so a node needs credentials. Next to a
running "telemesh up" (same --data-dir, where up keeps node.secret) it finds
them by itself:
  telemesh node --name lab1 --driver sim
From another machine, copy node.secret there and give the router's address
(up must listen on the LAN: --ws-listen 0.0.0.0:8080):
  telemesh node --name pi1 --driver hwmon --url ws://HOST:8080/ws --authid node --secret-file node.secret
Against another router, use --authid and --secret-file (or router: in the
node file). Flags given on the command line override the node file;
"telemesh drivers" lists the drivers and prints a sample block for each.`,
		Flags: append([]ucli.Flag{
			&ucli.PathFlag{Name: "config", EnvVars: []string{EnvPrefix + "NODE_CONFIG"}, Usage: "node file (YAML: name, description, router, store, drivers)"},
			&ucli.StringFlag{Name: "name", Usage: "node name, one URI component"},
			&ucli.StringFlag{Name: "description", Usage: "node description"},
			&ucli.StringSliceFlag{Name: "driver", Usage: "run a driver of this type with its default configuration (repeatable)"},
			&ucli.PathFlag{Name: "data-dir", Value: "./data", Usage: "directory of the node's database"},
			&ucli.StringFlag{Name: "health-listen", Usage: "serve the node's /healthz and /metrics here (e.g. 127.0.0.1:9101; check with telemesh healthcheck --http)"},
		}, append(clientFlags(), memoryFlags()...)...),
		Action: func(c *ucli.Context) error {
			log := logger(c).With("component", "node")
			stopRelease, err := applyMemory(c, log)
			if err != nil {
				return err
			}
			defer stopRelease()
			cfg, err := nodeConfig(c)
			if err != nil {
				return err
			}
			if useLocalNodeCredential(&cfg.Router, cfg.DataDir) {
				log.Info("using the node credential of telemesh up", "file", cfg.Router.SecretFile, "authid", cfg.Router.AuthID)
			}
			dial, err := cfg.Router.Dialer(log)
			if err != nil {
				return err
			}
			names, _ := cfg.Names()
			if err := nodePreflight(c.Context, dial, cfg.Router, names, cfg.Name); err != nil {
				return err
			}
			n, st, err := openNode(cfg, dial, log)
			if err != nil {
				return err
			}
			defer st.Close()
			log.Info("node starting", "name", cfg.Name, "url", cfg.Router.URL, "realm", cfg.Router.Realm, "drivers", len(cfg.Drivers))
			if err := n.Run(c.Context); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return st.Close()
		},
	}
}

// nodeConfig builds the node configuration from the node file, if any,
// and the flags, which win when set.
func nodeConfig(c *ucli.Context) (datanodes.Config, error) {
	var cfg datanodes.Config
	if path := c.Path("config"); path != "" {
		var err error
		if cfg, err = datanodes.LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	set := func(dst *string, flag string) {
		if c.IsSet(flag) || *dst == "" {
			*dst = c.String(flag)
		}
	}
	set(&cfg.Name, "name")
	set(&cfg.Description, "description")
	if c.IsSet("data-dir") || cfg.DataDir == "" {
		cfg.DataDir = c.Path("data-dir")
	}
	if c.IsSet("health-listen") {
		cfg.Health.Listen = c.String("health-listen")
	}
	for _, d := range c.StringSlice("driver") {
		cfg.Drivers = append(cfg.Drivers, datanodes.DriverConfig{Type: d})
	}
	_, n, err := clientConfig(c)
	if err != nil {
		return cfg, err
	}
	if c.IsSet("profile") || c.IsSet("realm") || c.IsSet("base-uri") || (cfg.Profile == "" && cfg.Realm == "" && cfg.Base == "") {
		cfg.Profile, cfg.Realm, cfg.Base = "", n.Realm, n.Base
		cfg.Router.Realm = n.Realm
	}
	r := &cfg.Router
	for flag, dst := range map[string]*string{
		"url": &r.URL, "authid": &r.AuthID, "authmethod": &r.AuthMethod, "secret": &r.Secret,
		"secret-file": &r.SecretFile, "ca-file": &r.CAFile, "serializer": &r.Serializer,
	} {
		if c.IsSet(flag) || *dst == "" {
			*dst = c.String(flag)
		}
	}
	if cfg.Name == "" {
		return cfg, errors.New("a node needs a name: --name or name: in the node file")
	}
	if len(cfg.Drivers) == 0 {
		return cfg, errors.New("a node needs a driver: --driver sim or drivers: in the node file")
	}
	cfg.SetDefaults()
	return cfg, cfg.Validate()
}
