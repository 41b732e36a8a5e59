// Package sqlite is the durable store.Store of data nodes, on SQLite.
//
// Readings live in one WITHOUT ROWID table keyed by (series_id, ts), with
// ts in nanoseconds and a dynamically typed value (REAL for numbers,
// INTEGER 0/1 for booleans, TEXT for strings). Append buffers readings; a
// flusher commits them in one transaction every Options.FlushInterval or
// every Options.FlushRows readings, and Flush and Close force it.
//
// Durability: the database runs in WAL mode with synchronous=NORMAL, so a
// committed flush survives a crash of the process (SIGKILL included): such
// a crash loses at most the readings appended since the last flush, that
// is those of the last flush interval. A power loss may also lose the last
// few committed flushes, never corrupting the file.
//
// Two rollup tiers, per minute and per hour, keep count, sum, min, max and
// last (with their times) per series and bucket. They are updated in the
// same transaction as the readings, so a bucketed query whose width is a
// multiple of a tier's reads tier rows instead of every reading, with the
// same result as a raw scan.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// Defaults of Options.
const (
	DefaultFlushInterval = time.Second
	DefaultFlushRows     = 5000
	DefaultBusyTimeout   = 5 * time.Second
	DefaultPruneInterval = 10 * time.Minute
)

// Options configures a Store. The zero value gives the defaults.
type Options struct {
	// FlushInterval is how long appended readings may wait before they are
	// committed (default 1s).
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushRows commits as soon as this many readings wait (default 5000).
	FlushRows int `yaml:"flush_rows"`
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process (default 5s).
	BusyTimeout time.Duration `yaml:"busy_timeout"`
	// Retention says how long each tier keeps data.
	Retention Retention `yaml:"retention"`
	// PruneInterval is how often retention is applied (default 10m).
	PruneInterval time.Duration `yaml:"prune_interval"`
}

// Retention is how long readings and rollup rows are kept, per tier;
// 0 keeps them forever. A coarser tier keeps its rows at least as long as
// a finer one (shorter values are raised), so that every range a query
// can use a tier for is complete in it. Once readings are pruned, raw
// queries and the partial tier buckets at the ends of a bucketed query's
// range find nothing there; whole tier buckets still answer.
type Retention struct {
	Raw    time.Duration `yaml:"raw"`
	Minute time.Duration `yaml:"minute"`
	Hour   time.Duration `yaml:"hour"`
}

// Validate reports an invalid option.
func (o Options) Validate() error {
	switch {
	case o.FlushInterval < 0:
		return fmt.Errorf("flush_interval %v is negative", o.FlushInterval)
	case o.FlushRows < 0:
		return fmt.Errorf("flush_rows %d is negative", o.FlushRows)
	case o.BusyTimeout < 0:
		return fmt.Errorf("busy_timeout %v is negative", o.BusyTimeout)
	case o.PruneInterval < 0:
		return fmt.Errorf("prune_interval %v is negative", o.PruneInterval)
	case o.Retention.Raw < 0 || o.Retention.Minute < 0 || o.Retention.Hour < 0:
		return fmt.Errorf("retention %+v has a negative duration", o.Retention)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushRows == 0 {
		o.FlushRows = DefaultFlushRows
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	r := &o.Retention
	r.Minute = atLeast(r.Minute, r.Raw)
	r.Hour = atLeast(r.Hour, r.Minute)
	return o
}

// atLeast returns the longer of two retentions, 0 meaning forever.
func atLeast(d, finer time.Duration) time.Duration {
	if d == 0 || finer == 0 {
		return 0
	}
	return max(d, finer)
}

// tier is a rollup table.
type tier struct {
	table string
	width int64
}

// tiers lists the rollup tiers, coarsest first.
var tiers = []tier{
	{"rollup_hour", int64(time.Hour)},
	{"rollup_minute", int64(time.Minute)},
}

const schema = `
CREATE TABLE IF NOT EXISTS series (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	units       TEXT NOT NULL DEFAULT '',
	type        TEXT NOT NULL DEFAULT '',
	timeline    TEXT NOT NULL DEFAULT '',
	interval    INTEGER NOT NULL DEFAULT 0,
	value_type  TEXT NOT NULL DEFAULT '',
	first_ts    INTEGER,
	last_ts     INTEGER
);
CREATE TABLE IF NOT EXISTS readings (
	series_id INTEGER NOT NULL,
	ts        INTEGER NOT NULL,
	value,
	PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
`

const tierSchema = `
CREATE TABLE IF NOT EXISTS %s (
	series_id INTEGER NOT NULL,
	bucket    INTEGER NOT NULL,
	cell      BLOB NOT NULL,
	PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;
`

// Store is a store.Store in one SQLite file.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	o   Options

	writeMu sync.Mutex // serialises flushes, PutFields and Prune

	mu     sync.Mutex // guards the fields below
	buf    []row
	ids    map[string]int64
	closed bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// noRollups makes queries scan readings, for benchmarks.
	noRollups bool
	// tierScans counts rollup scans, for tests.
	tierScans atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in the file at path and starts its
// flusher. logger may be nil.
func Open(path string, o Options, logger *slog.Logger) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite store options: %w", err)
	}
	o = o.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A file: URI, so the path's own '?' and '#' must be escaped.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=%d&_txlock=immediate",
		esc, o.BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{
		db: db, log: logger, o: o, ids: map[string]int64{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go s.run()
	return s, nil
}

func (s *Store) init() error {
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		s.log.Warn("sqlite store not in WAL mode", "journal_mode", mode)
	}
	ddl := schema
	for _, t := range tiers {
		ddl += fmt.Sprintf(tierSchema, t.table)
	}
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, name FROM series")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		s.ids[name] = id
	}
	return rows.Err()
}

// run flushes and prunes in the background until Close.
func (s *Store) run() {
	defer close(s.done)
	flush := time.NewTicker(s.o.FlushInterval)
	defer flush.Stop()
	var prune <-chan time.Time
	if r := s.o.Retention; r.Raw > 0 || r.Minute > 0 || r.Hour > 0 {
		t := time.NewTicker(s.o.PruneInterval)
		defer t.Stop()
		prune = t.C
		s.prune(time.Now())
	}
	for {
		select {
		case <-s.stop:
			return
		case <-flush.C:
		case <-s.kick:
		case now := <-prune:
			s.prune(now)
			continue
		}
		if err := s.Flush(context.Background()); err != nil {
			s.log.Error("flush readings", "err", err)
		}
	}
}

func (s *Store) checkOpen() error {
	if s.closed {
		return protocol.Errorf(protocol.Unavailable, "store closed")
	}
	return nil
}

// PutFields implements store.Store.
func (s *Store) PutFields(ctx context.Context, fields []store.FieldMeta) error {
	if err := store.CheckFields(fields); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	created := map[string]int64{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, f := range fields {
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO series (name, description, units, type, timeline, interval) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET description = excluded.description, units = excluded.units,
					type = excluded.type, timeline = excluded.timeline, interval = excluded.interval
				RETURNING id`, f.Name, f.Description, f.Units, f.Type, f.Timeline, f.Interval).Scan(&id)
			if err != nil {
				return fmt.Errorf("put field %s: %w", f.Name, err)
			}
			created[f.Name] = id
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.remember(created)
	return nil
}

func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkOpen()
}

// inTx runs fn in a transaction and commits it unless fn fails. The
// caller holds writeMu.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.open(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// remember caches the ids of series a committed transaction created.
func (s *Store) remember(ids map[string]int64) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, id := range ids {
		s.ids[name] = id
	}
}

// sync makes appended readings visible to queries.
func (s *Store) sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.pending() {
		return s.Flush(ctx)
	}
	return nil
}

// Fields implements store.Store. It reads only the series table, which
// keeps each field's first and last reading time.
func (s *Store) Fields(ctx context.Context, start, end int64) ([]store.FieldMeta, error) {
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, description, units, type, timeline, interval, value_type,
		coalesce(first_ts, 0), coalesce(last_ts, 0) FROM series ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list fields: %w", err)
	}
	defer rows.Close()
	all := start == 0 && end == 0
	var out []store.FieldMeta
	for rows.Next() {
		var f store.FieldMeta
		var vtype string
		if err := rows.Scan(&f.Name, &f.Description, &f.Units, &f.Type, &f.Timeline, &f.Interval, &vtype, &f.First, &f.Last); err != nil {
			return nil, err
		}
		if f.Type == "" {
			f.Type = vtype
		}
		if all || store.SpanOverlaps(f.First, f.Last, start, end) {
			out = append(out, f)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list fields: %w", err)
	}
	return out, nil
}

// Close implements store.Store: it stops the flusher, commits what is
// buffered and closes the database. Later calls do nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.Flush(context.Background())
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}
