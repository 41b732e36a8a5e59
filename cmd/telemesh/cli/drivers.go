package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/telemesh/telemesh/datanodes/driver"
	_ "github.com/telemesh/telemesh/datanodes/driver/all" // every driver
	ucli "github.com/urfave/cli/v2"
)

func init() { register("drivers", driversCommand) }

// driversCommand is the drivers subcommand.
func driversCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "drivers",
		Usage:     "list the data-node drivers, or print one driver's sample configuration",
		ArgsUsage: " ",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "sample", Usage: "print the documented YAML block of driver `NAME`"},
		},
		Action: func(c *ucli.Context) error {
			w := c.App.Writer
			if name := c.String("sample"); name != "" {
				r, ok := driver.Lookup(name)
				if !ok {
					return fmt.Errorf("unknown driver %q (registered: %s)", name, strings.Join(driver.Names(), ", "))
				}
				fmt.Fprint(w, strings.TrimRight(r.Sample, "\n")+"\n")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DRIVER\tDESCRIPTION")
			for _, n := range driver.Names() {
				r, _ := driver.Lookup(n)
				fmt.Fprintf(tw, "%s\t%s\n", n, r.Usage)
			}
			return tw.Flush()
		},
	}
}
