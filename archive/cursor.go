package archive

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3" // the cursor file
)

// cursors is the durable cursor per (sink, node, field): every point of
// the field before the cursor (float seconds) is in the sink. It is
// written only after the sink acknowledged the points.
type cursors struct {
	db *sql.DB
}

func openCursors(dir string) (*cursors, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	file := filepath.Join(dir, "cursors.sqlite")
	db, err := sql.Open("sqlite3", "file:"+file+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS cursor (
		sink TEXT NOT NULL, node TEXT NOT NULL, field TEXT NOT NULL, t REAL NOT NULL,
		PRIMARY KEY (sink, node, field))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	return &cursors{db: db}, nil
}

// load returns the cursors of one sink and node.
func (c *cursors) load(ctx context.Context, sink, node string) (map[string]float64, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT field, t FROM cursor WHERE sink = ? AND node = ?`, sink, node)
	if err != nil {
		return nil, fmt.Errorf("reading cursors: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var f string
		var t float64
		if err := rows.Scan(&f, &t); err != nil {
			return nil, fmt.Errorf("reading cursors: %w", err)
		}
		out[f] = t
	}
	return out, rows.Err()
}

// save stores the given cursors of one sink and node in one transaction.
func (c *cursors) save(ctx context.Context, sink, node string, cur map[string]float64) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("saving cursors: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO cursor (sink, node, field, t) VALUES (?, ?, ?, ?)
		ON CONFLICT (sink, node, field) DO UPDATE SET t = excluded.t`)
	if err != nil {
		return fmt.Errorf("saving cursors: %w", err)
	}
	defer st.Close()
	for f, t := range cur {
		if _, err := st.ExecContext(ctx, sink, node, f, t); err != nil {
			return fmt.Errorf("saving cursors: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("saving cursors: %w", err)
	}
	return nil
}

func (c *cursors) close() error { return c.db.Close() }
