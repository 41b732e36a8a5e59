package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/wampx"
	ucli "github.com/urfave/cli/v2"
)

func init() { register("healthcheck", healthcheckCommand) }

// healthcheckCommand is the healthcheck subcommand.
func healthcheckCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 when a component is healthy (for container and systemd health checks)",
		Description: `Checks one of:
   --http URL    an HTTP endpoint answers 200 (the router's or bridge's /healthz)
   --hub         the hub answers get_data_node through the router
   --node NAME   the hub lists the data node NAME`,
		Flags: append(clientFlags(),
			&ucli.StringFlag{Name: "http", Usage: "URL that must answer 200"},
			&ucli.BoolFlag{Name: "hub", Usage: "check that the hub answers"},
			&ucli.StringFlag{Name: "node", Usage: "check that the hub lists this data node"},
			durationFlag("timeout", "5s", "give up after this long"),
		),
		Action: healthcheck,
	}
}

func healthcheck(c *ucli.Context) error {
	timeout, err := flagDuration(c, "timeout")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	if u := c.String("http"); u != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		hc := &http.Client{}
		if ca := c.String("ca-file"); ca != "" {
			tc, err := wampx.ClientTLS(ca, "")
			if err != nil {
				return err
			}
			hc.Transport = &http.Transport{TLSClientConfig: tc}
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", u, resp.Status)
		}
		return nil
	}
	node := c.String("node")
	if !c.Bool("hub") && node == "" {
		return errors.New("say what to check: --http URL, --hub or --node NAME")
	}
	cfg, n, err := clientConfig(c)
	if err != nil {
		return err
	}
	dial, err := cfg.Dialer(logger(c))
	if err != nil {
		return err
	}
	cl, err := dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.Call(ctx, n.GetDataNode(), nil, nil, nil, nil)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if node == "" {
		return nil
	}
	if len(res.Arguments) > 0 {
		list, _ := wamp.AsList(res.Arguments[0])
		for _, e := range list {
			d, _ := wamp.AsDict(e)
			if name, _ := wamp.AsString(d["name"]); name == node {
				return nil
			}
		}
	}
	return fmt.Errorf("the hub does not list node %q", node)
}
