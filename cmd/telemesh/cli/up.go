//go:build !custom || commands.up

package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/crossbar-config/crossbar"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router"
	ucli "github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	_ "github.com/telemesh/telemesh/datanodes/driver/all" // every driver, for --node-config
)

func init() { register("up", upCommand) }

// upCommand is the up subcommand.
func upCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "up",
		Usage: "run the whole stack in one process: router, hub, a simulated node and the Grafana bridge",
		Description: `up is for a first run and for demos. It serves WAMP on --ws-listen (WebSocket,
   path /ws) and --rs-listen (RawSocket), the live dashboard at / of the
   WebSocket listener, and the Grafana bridge on --bridge-listen. Anonymous
   clients from loopback get the read-only consumer role.`,
		Flags: append(append(namingFlags(),
			&ucli.StringFlag{Name: "data-dir", Value: "data", Usage: "folder for the node's SQLite database and the hub's state file (hub-state.json)"},
			&ucli.StringFlag{Name: "ws-listen", Value: router.DefaultWSAddress, Usage: "WebSocket listener (WAMP at /ws, dashboard at /); with a config file, moves its main WebSocket listener"},
			&ucli.StringFlag{Name: "rs-listen", Value: router.DefaultRSAddress, Usage: "RawSocket listener; with a config file, moves its main RawSocket listener"},
			&ucli.StringFlag{Name: "bridge-listen", Value: "127.0.0.1:5000", Usage: "Grafana bridge listener; empty disables the bridge"},
			&ucli.StringFlag{Name: "crossbar-config", Usage: "configure the router from a crossbar.io .crossbar/config.json instead (every transport served; hub, node and bridge use its roles or the router's trusted in-process role)"},
			&ucli.StringFlag{Name: "router-config", Usage: "configure the router from a telemesh router YAML file instead"},
			&ucli.StringFlag{Name: "node-name", Value: "sim", Usage: "name of the simulated node"},
			&ucli.StringFlag{Name: "sim-backfill", Value: "24h", Usage: "history the simulated node writes at first start (e.g. 7d; 0 for none)"},
			&ucli.StringFlag{Name: "node-config", Usage: "run this node YAML file instead of the simulated node"},
			&ucli.BoolFlag{Name: "no-node", Usage: "run no data node"},
		), memoryFlags()...),
		Action: up,
	}
}

func up(c *ucli.Context) error {
	log := logger(c)
	stopRelease, err := applyMemory(c, log)
	if err != nil {
		return err
	}
	defer stopRelease()
	n, err := names(c)
	if err != nil {
		return err
	}
	cfg, err := upRouterConfig(c, n, log)
	if err != nil {
		return err
	}
	if len(cfg.Realms) > 0 {
		n.Realm = cfg.Realms[0].Name
	}
	nodeSecret := ""
	if c.String("crossbar-config") == "" && c.String("router-config") == "" {
		if nodeSecret, err = addNodeCredential(&cfg, n, c.String("data-dir")); err != nil {
			return err
		}
	}
	srv, err := router.New(cfg, log.With("component", "router"))
	if err != nil {
		return err
	}
	dashboard := mountDashboard(srv, n, cfg.Listeners.WebSocket.Path)

	// The router gets its own context and stops last, so that the node can
	// say goodbye to the hub and every session closes before the router.
	rctx, stopRouter := context.WithCancel(context.Background())
	defer stopRouter()
	routerDone := make(chan struct{})
	var routerErr error
	go func() {
		routerErr = srv.Run(rctx)
		close(routerDone)
	}()
	defer func() { stopRouter(); <-routerDone }()

	g, ctx := errgroup.WithContext(c.Context)
	g.Go(func() error {
		select {
		case <-routerDone:
			if routerErr != nil {
				return fmt.Errorf("router: %w", routerErr)
			}
			return errors.New("router stopped")
		case <-ctx.Done():
			return nil
		}
	})
	select {
	case <-srv.Ready():
	case <-ctx.Done():
		return g.Wait()
	}
	a := srv.Addrs()
	log.Info("router up", "websocket", srv.WebSocketURL(), "rawsocket", srv.RawSocketURL(), "realm", n.Realm, "base_uri", n.Base)
	if a.WebSocket != "" && dashboard {
		web := webURL(srv.WebSocketURL())
		log.Info("live dashboard", "url", web, "metrics", web+"metrics")
		if nodeSecret != "" {
			logNodeCommands(log, srv.WebSocketURL(), c.String("data-dir"), c.String("profile"))
		}
	}

	upProfileHint(c, log)
	// Sessions the router admits without credentials have no identity to
	// bind a node name to (a sisock site's anonymous nodes): they announce
	// any free name, as sisock's hub let them.
	policy := hub.DefaultNamePolicy
	policy.AnyNameRoles = append(slices.Clone(policy.AnyNameRoles), cfg.AnonymousRoles(n.Realm)...)
	if nodeSecret != "" {
		// up's node credential serves any node name (addNodeCredential).
		policy.AnyNameRoles = append(policy.AnyNameRoles, nodeRole)
	}
	h, err := hub.New(hub.Config{Names: n, Dial: srv.LocalRealmDialer(n.Realm, "hub", srv.InProcessRole(n.Realm, protocol.RoleHub)), Logger: log.With("component", "hub"), Policy: &policy,
		StateFile: filepath.Join(c.String("data-dir"), "hub-state.json")})
	if err != nil {
		return err
	}
	g.Go(func() error { return ignoreCanceled(h.Run(ctx)) })

	if !c.Bool("no-node") {
		node, st, err := upNode(c, n, srv, log)
		if err != nil {
			return err
		}
		g.Go(func() error {
			defer st.Close()
			return ignoreCanceled(node.Run(ctx))
		})
	}

	if addr := c.String("bridge-listen"); addr != "" {
		cl := consumers.New(srv.LocalRealmDialer(n.Realm, "bridge", srv.InProcessRole(n.Realm, protocol.RoleConsumer)), n, log.With("component", "bridge"))
		g.Go(func() error { return ignoreCanceled(cl.Run(ctx)) })
		// Off loopback the bridge needs a token: up keeps one in its data dir.
		bc := bridge.Config{Listen: addr}
		if !bridge.Loopback(addr) {
			bc.AuthTokenFile = filepath.Join(c.String("data-dir"), "bridge-token")
		}
		if created, err := bc.Ensure(); err != nil {
			return err
		} else if created != "" {
			log.Info("grafana bridge token created: send it as Authorization: Bearer <token>", "file", created)
		}
		br, err := bridge.NewServer(bc, cl, log.With("component", "bridge"))
		if err != nil {
			return err
		}
		g.Go(func() error { return ignoreCanceled(br.Run(ctx)) })
		log.Info("grafana bridge up", "url", "http://"+addr+"/")
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) || c.Context.Err() != nil {
		log.Info("stopped")
		return nil
	}
	return err
}

// upRouterConfig is the router configuration of `up`: the defaults for the
// chosen names with the listeners from the flags, or a file.
func upRouterConfig(c *ucli.Context, n protocol.Names, log *slog.Logger) (router.Config, error) {
	switch {
	case c.String("crossbar-config") != "" && c.String("router-config") != "":
		return router.Config{}, errors.New("give --crossbar-config or --router-config, not both")
	case c.String("crossbar-config") != "" || c.String("router-config") != "":
		var cfg router.Config
		var err error
		if path := c.String("crossbar-config"); path != "" {
			cfg, err = crossbar.Load(path, log)
		} else {
			cfg, err = router.LoadConfig(c.String("router-config"))
		}
		if err != nil {
			return cfg, err
		}
		// The listener flags move the file's main listeners (further
		// transports keep their addresses).
		if c.IsSet("ws-listen") {
			cfg.Listeners.WebSocket.Address = c.String("ws-listen")
		}
		if c.IsSet("rs-listen") {
			cfg.Listeners.RawSocket.Address = c.String("rs-listen")
		}
		return cfg, cfg.Validate()
	}
	cfg := router.DefaultConfig()
	cfg.Listeners.WebSocket.Address = c.String("ws-listen")
	cfg.Listeners.RawSocket.Address = c.String("rs-listen")
	cfg.Realms[0].Name = n.Realm
	cfg.Realms[0].Roles = router.DefaultRoles(n)
	return cfg, cfg.Validate()
}

// upNode builds the embedded data node: the simulated one, or the one a
// node file describes.
func upNode(c *ucli.Context, n protocol.Names, srv *router.Server, log *slog.Logger) (*datanodes.Node, store.Store, error) {
	var cfg datanodes.Config
	if path := c.String("node-config"); path != "" {
		var err error
		if cfg, err = datanodes.LoadConfig(path); err != nil {
			return nil, nil, err
		}
	} else {
		cfg = datanodes.Config{
			Name:        c.String("node-name"),
			Description: "simulated sensors (telemesh up)",
			Drivers:     []datanodes.DriverConfig{{Type: "sim", Block: []byte("backfill: " + c.String("sim-backfill") + "\n")}},
		}
	}
	cfg.Realm, cfg.Base = n.Realm, n.Base
	// As for `node`: --data-dir wins when given (a loaded node file already
	// has its default filled in).
	if c.IsSet("data-dir") || cfg.DataDir == "" {
		cfg.DataDir = c.String("data-dir")
	}
	if err := protocol.CheckNodeName(cfg.Name); err != nil {
		return nil, nil, err
	}
	cfg.SetDefaults()
	return openNode(cfg, srv.LocalRealmDialer(n.Realm, cfg.Name, srv.InProcessRole(n.Realm, protocol.RoleDataNode)), log.With("component", "node"))
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// upProfileHint tells a user who runs the sisock profile without a
// crossbar config why unchanged sisock nodes will not join, and what to
// run instead.
func upProfileHint(c *ucli.Context, log *slog.Logger) {
	if c.String("profile") != "sisock" || c.String("crossbar-config") != "" || c.String("router-config") != "" {
		return
	}
	log.Warn("sisock's own nodes, hub and Grafana bridge connect with wss:// and WAMP-CRA (users server and simonsobs) " +
		"on port 8080, or anonymously on port 8001; this router serves plain WebSocket with anonymous loopback consumers only, so they will not join. " +
		"To admit them unchanged, run the site's crossbar config: " +
		"telemesh tls init --sisock --dir .crossbar --cn HOST --san HOST,IP && " +
		"telemesh up --profile sisock --crossbar-config .crossbar/config.json " +
		"(see docs/migrating-from-sisock.md)")
}

// addNodeCredential gives the first realm of cfg the role "nodes" (the
// datanode role's rights for any node name) and a WAMP-CRA user "node"
// whose secret is in <dataDir>/node.secret, creating it (mode 0600) on
// first use. It returns the secret file's path.
func addNodeCredential(cfg *router.Config, n protocol.Names, dataDir string) (string, error) {
	path := nodeSecretPath(dataDir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return "", fmt.Errorf("data dir: %w", err)
		}
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing the node credential: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("node credential: %w", err)
	}
	realm := &cfg.Realms[0]
	wild := func(suffix string) string { return n.URI("consumer.." + suffix) }
	realm.Roles = append(realm.Roles, router.RoleConfig{Name: nodeRole, Permissions: []router.Permission{
		{URI: wild("get_fields"), Match: router.MatchWildcard, Allow: router.Allow{Register: true}},
		{URI: wild("get_data"), Match: router.MatchWildcard, Allow: router.Allow{Register: true}},
		{URI: wild("data"), Match: router.MatchWildcard, Allow: router.Allow{Publish: true}},
		{URI: wild("alarm"), Match: router.MatchWildcard, Allow: router.Allow{Publish: true}},
		{URI: n.DataNodeAdd(), Match: router.MatchExact, Allow: router.Allow{Call: true}, Disclose: router.Disclose{Caller: true}},
		{URI: n.DataNodeSubtract(), Match: router.MatchExact, Allow: router.Allow{Call: true}, Disclose: router.Disclose{Caller: true}},
		{URI: n.HubReady(), Match: router.MatchExact, Allow: router.Allow{Subscribe: true}},
	}})
	if realm.Auth.WAMPCRA == nil {
		realm.Auth.WAMPCRA = &router.WAMPCRAAuth{}
	}
	if realm.Auth.WAMPCRA.Users == nil {
		realm.Auth.WAMPCRA.Users = map[string]router.CRAUser{}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	realm.Auth.WAMPCRA.Users[nodeAuthID] = router.CRAUser{SecretFile: abs, Role: nodeRole}
	return path, nil
}
