// Command telemesh serves live and historical sensor data over one WAMP
// router: the router, the hub, data nodes, consumers and the Grafana bridge
// are all subcommands of this one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/telemesh/telemesh/cmd/telemesh/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "telemesh:", err)
		os.Exit(1)
	}
}
