//go:build !custom || commands.hub

package cli

import (
	"context"
	"errors"

	"github.com/telemesh/telemesh/hub"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("hub", hubCommand) }

// hubCommand is the hub subcommand.
func hubCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "hub",
		Usage: "run the hub: the directory of data nodes, against any WAMP router",
		Description: `Registers data_node.add and data_node.subtract, get_data_node and list_nodes,
publishes data_node_added and data_node_subtracted, and removes a node as soon
as the router reports its session gone. On start and after every reconnect it
rebuilds its directory from the router's meta API and publishes hub.ready, so
restarting it loses no node. With --state-file it also keeps what nodes
announced (descriptions, fields) across its restarts, for sisock nodes that
announce only once. Works against crossbar.io routers too (with the
meta API and caller disclosure allowed for its role).`,
		Flags: append(clientFlags(),
			&ucli.DurationFlag{Name: "remove-grace", Value: hub.DefaultGrace, Usage: "keep listing a node whose session was found gone after the hub's own reconnect (a router restart) this long, so a node that only reconnects does not flap; 0 removes at once"},
			&ucli.StringFlag{Name: "state-file", Usage: "keep what nodes announced (descriptions, fields, timelines, meta) in this JSON file, so that nodes which never announce again (sisock's) keep their descriptions across a hub restart; an unreadable file is logged and ignored"},
			&ucli.StringSliceFlag{Name: "any-name-role", Value: ucli.NewStringSlice(hub.DefaultNamePolicy.AnyNameRoles...), Usage: "roles whose sessions may announce any node name (others only the name of their authid); repeatable"},
		),
		Action: func(c *ucli.Context) error {
			dial, cfg, n, err := clientDialer(c)
			if err != nil {
				return err
			}
			log := logger(c)
			grace := c.Duration("remove-grace")
			if grace == 0 {
				grace = -1 // the flag's 0 means none; the config's 0 means the default
			}
			policy := hub.NamePolicy{AnyNameRoles: c.StringSlice("any-name-role")}
			h, err := hub.New(hub.Config{Names: n, Dial: dial, Logger: log.With("component", "hub"), Grace: grace, Policy: &policy, StateFile: c.String("state-file")})
			if err != nil {
				return err
			}
			log.Info("hub starting", "url", cfg.URL, "realm", n.Realm, "base", n.Base)
			if err := h.Run(c.Context); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
}
