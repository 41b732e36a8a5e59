//go:build !custom || commands.tls

package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/telemesh/telemesh/tls/pki"
)

func init() { register("tls", tlsCommand) }

// tlsCommand is the tls subcommand.
func tlsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "tls",
		Usage: "create and inspect the local CA and server certificate for wss:// and tcps://",
		Subcommands: []*ucli.Command{
			{
				Name:      "init",
				Usage:     "create (or reuse) a local CA in DIR and a server certificate signed by it",
				UsageText: "telemesh tls init --dir DIR --cn NAME --san host,ip,... [--days N] [--ca-days N] [--force]",
				Description: `Writes ca.crt, ca.key, server.crt and server.key into DIR (keys mode 0600).
   An existing CA in DIR is reused, so re-running with --force only renews
   the server certificate and clients keep trusting ca.crt.`,
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "dir", Required: true, Usage: "directory for ca.crt, ca.key, server.crt and server.key"},
					&ucli.StringFlag{Name: "cn", Value: "localhost", Usage: "common name of the server certificate (also added as a SAN)"},
					&ucli.StringSliceFlag{Name: "san", Usage: "DNS names and IP addresses clients use to reach the router (comma separated or repeated)"},
					&ucli.IntFlag{Name: "days", Value: 825, Usage: "server certificate lifetime in days"},
					&ucli.IntFlag{Name: "ca-days", Value: 3650, Usage: "lifetime in days of a newly created CA"},
					&ucli.BoolFlag{Name: "force", Usage: "replace an existing server certificate and key"},
					&ucli.BoolFlag{Name: "sisock", Usage: "write sisock's server_cert.pem and server_key.pem instead: one self-signed certificate with SANs that sisock's unchanged clients and telemesh's both trust"},
				},
				Action: tlsInit,
			},
			{
				Name:      "show",
				Usage:     "describe a PEM certificate: subject, issuer, SANs, validity, CA",
				ArgsUsage: "FILE",
				Action:    tlsShow,
			},
		},
	}
}

func tlsInit(c *ucli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("tls init: unexpected arguments %q", c.Args().Slice())
	}
	if c.Int("days") <= 0 || c.Int("ca-days") <= 0 {
		return errors.New("tls init: --days and --ca-days must be positive")
	}
	dir := c.String("dir")
	o := pki.Options{
		CN:         c.String("cn"),
		SANs:       c.StringSlice("san"),
		Lifetime:   pki.Days(c.Int("days")),
		CALifetime: pki.Days(c.Int("ca-days")),
		Force:      c.Bool("force"),
	}
	abs := func(s string) string {
		if a, err := filepath.Abs(s); err == nil {
			return a
		}
		return s
	}
	if c.Bool("sisock") {
		return tlsInitSisock(c, dir, o, abs)
	}
	p, err := pki.Init(dir, o)
	if errors.Is(err, pki.ErrExists) {
		return fmt.Errorf("tls init: a server certificate already exists in %s; add --force to replace it (the CA is kept)", dir)
	}
	if err != nil {
		return fmt.Errorf("tls init: %w", err)
	}
	desc, err := pki.Describe(p.Cert)
	if err != nil {
		return fmt.Errorf("tls init: %w", err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "CA certificate:      %s\n", abs(p.CACert))
	fmt.Fprintf(w, "CA key (keep safe):  %s\n", abs(p.CAKey))
	fmt.Fprintf(w, "server certificate:  %s\n", abs(p.Cert))
	fmt.Fprintf(w, "server key:          %s\n\n", abs(p.Key))
	fmt.Fprintf(w, "%s\n", strings.TrimRight(desc, "\n"))
	fmt.Fprintf(w, `
Next steps:
  router:   telemesh router --tls-cert %s --tls-key %s ...
            (or listeners.websocket.tls {cert, key} in the router config;
             crossbar configs: endpoint.tls {certificate, key})
  clients:  copy %s to each client machine and connect with
            --url wss://HOST:PORT/ws --ca-file ca.crt
            (Python autobahn: ssl.create_default_context(cafile="ca.crt"))
  renew:    telemesh tls init --dir %s --cn %s --san ... --force  (keeps the CA)
`, abs(p.Cert), abs(p.Key), abs(p.CACert), dir, c.String("cn"))
	return nil
}

func tlsShow(c *ucli.Context) error {
	if c.NArg() != 1 {
		return errors.New("tls show: want exactly one FILE argument")
	}
	s, err := pki.Describe(c.Args().First())
	if err != nil {
		return fmt.Errorf("tls show: %w", err)
	}
	fmt.Fprint(c.App.Writer, s)
	return nil
}

// tlsInitSisock writes sisock's certificate files and says how each kind
// of client trusts them.
func tlsInitSisock(c *ucli.Context, dir string, o pki.Options, abs func(string) string) error {
	p, err := pki.InitSisock(dir, o)
	if err != nil {
		return fmt.Errorf("tls init --sisock: %w", err)
	}
	desc, err := pki.Describe(p.Cert)
	if err != nil {
		return fmt.Errorf("tls init --sisock: %w", err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "certificate (its own root):  %s\n", abs(p.Cert))
	fmt.Fprintf(w, "key:                         %s\n\n", abs(p.Key))
	fmt.Fprintf(w, "%s\n", strings.TrimRight(desc, "\n"))
	fmt.Fprintf(w, `
Next steps:
  router:         telemesh router --crossbar-config %s
                  (the sisock config's endpoint.tls names server_key.pem and server_cert.pem)
  sisock clients: unchanged; they load %s as their trust root
  telemesh:       --url wss://HOST:PORT/ws --ca-file %s
                  (HOST must be one of the SANs above)
  renew:          telemesh tls init --sisock --dir %s --cn %s --san ... --force
`, filepath.Join(abs(dir), "config.json"), abs(p.Cert), abs(p.Cert), dir, o.CN)
	return nil
}
