package cli

import (
	"log/slog"

	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
)

// openStore opens a node's SQLite store at path with the node file's
// store settings.
func openStore(path string, cfg datanodes.Config, log *slog.Logger) (store.Store, error) {
	r := cfg.Store.Retention
	return sqlite.Open(path, sqlite.Options{
		FlushInterval: cfg.Store.FlushInterval.D(),
		Retention: sqlite.Retention{Raw: r["raw"].D(), TenSeconds: r["10s"].D(), Minute: r["minute"].D(),
			TenMinutes: r["10m"].D(), Hour: r["hour"].D(), Day: r["day"].D()},
	}, log.With("component", "store"))
}
