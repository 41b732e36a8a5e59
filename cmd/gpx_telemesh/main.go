// Command gpx_telemesh is the backend of the telemesh Grafana datasource
// plugin. Grafana starts it as a plugin process; it is not meant to be run
// by hand. Build it with `make plugin` (CGO_ENABLED=0).
package main

import (
	"log/slog"
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"

	"github.com/telemesh/telemesh/grafana-bridge/plugin"
)

func main() {
	// Grafana collects the plugin's stderr into its own log.
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	factory := plugin.NewFactory(plugin.ConsumersConnect(logger), logger)
	if err := datasource.Manage(plugin.ID, factory, datasource.ManageOpts{}); err != nil {
		logger.Error("plugin stopped", "err", err)
		os.Exit(1)
	}
}
