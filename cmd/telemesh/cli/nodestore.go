package cli

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/wampx"
)

// openNode is the one constructor of a data node and its store, used by
// both `node` and `up`: it makes the data directory, opens
// <data_dir>/<name>.db with the node file's store settings and builds the
// node on it. The caller closes the store after Run.
func openNode(cfg datanodes.Config, dial wampx.Dialer, log *slog.Logger) (*datanodes.Node, store.Store, error) {
	if cfg.DataDir == "" {
		// SetDefaults leaves it unset, so that up can tell a node file
		// that names none and put the node in its own data dir.
		cfg.DataDir = "data"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, cfg.Name+".db")
	opts := storeOptions(cfg)
	st, err := sqlite.Open(path, opts, log.With("component", "store"))
	if err != nil {
		return nil, nil, err
	}
	n, err := datanodes.New(cfg, dial, st, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	log.Info("data node store", "db", path, "flush_interval", opts.FlushInterval.String(),
		"retention_raw", opts.Retention.Raw.String(), "retention_minute", opts.Retention.Minute.String(), "retention_hour", opts.Retention.Hour.String(),
		"max_buffered", cmp.Or(opts.MaxBuffered, sqlite.DefaultMaxBuffered), "spill_dir", cmp.Or(opts.SpillDir, cfg.DataDir))
	return n, st, nil
}

// storeOptions are the SQLite options a node file's store section gives.
func storeOptions(cfg datanodes.Config) sqlite.Options {
	r := cfg.Store.Retention
	return sqlite.Options{
		FlushInterval: cfg.Store.FlushInterval.D(),
		MaxBuffered:   cfg.Store.MaxBuffered,
		SpillDir:      cfg.Store.SpillDir,
		Retention: sqlite.Retention{Raw: r["raw"].D(), TenSeconds: r["10s"].D(), Minute: r["minute"].D(),
			TenMinutes: r["10m"].D(), Hour: r["hour"].D(), Day: r["day"].D()},
	}
}
