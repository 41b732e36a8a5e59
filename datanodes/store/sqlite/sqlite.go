// Package sqlite is the durable store.Store of data nodes, on SQLite.
//
// Readings are kept as compressed column chunks (package chunk): per
// field, runs of consecutive readings in one BLOB each, with the chunk's
// first and last time beside it, so a query reads a few rows per day of a
// field and decodes them in Go without a per-reading trip through SQLite.
// The chunks of a field never overlap in time. The trailing chunks of a
// field are its write head: small and coded without zstd, they are
// rewritten by each flush and sealed into full, zstd-coded chunks of
// SealReadings once enough have gathered. A late reading, or one at a time
// the field already has (which replaces it), rewrites the chunks it falls
// in.
//
// Rollups keep, per field, tier and bucket, the count, sum, minimum and
// maximum with the times they occurred, and the first and last reading
// (downsample.Cell), at the widths of Tiers; a tier's cells are stored in
// pages of pageCells consecutive buckets, coded as columns like readings.
// They are updated in the same transaction as the readings, and recomputed
// from the readings where one was replaced, so they are exact. The query
// planner (plan.go) answers whole buckets from the coarsest tier that
// fits and only the edges from finer tiers or readings.
//
// Append buffers readings; a flusher commits them in one transaction every
// Options.FlushInterval or every Options.FlushRows readings, and Flush and
// Close force it. The database runs in WAL mode with synchronous=NORMAL,
// so a committed flush survives a crash of the process (SIGKILL
// included): such a crash loses the readings appended since the last
// committed flush, which is at most FlushInterval plus the time a flush
// takes to commit (WriteStats reports the longest seen; on a loaded
// machine add the delays of scheduling). A power loss may also lose the
// last few committed flushes, never corrupting the file.
//
// When flushes fail (a full disk, an I/O error), the readings stay in the
// buffer and the flusher retries with backoff; queries keep answering from
// the database, except where they ask for a field's time span that holds
// readings not written yet: those fail with an Unavailable error, never
// with an answer missing them. The buffer holds at most
// Options.MaxBuffered readings; beyond, it is moved to a spill file in
// Options.SpillDir (spill.go), and if that fails too the new readings are
// dropped, counted and logged. Close while flushes fail spills the buffer
// or, if it cannot, logs exactly which readings are lost. Spill files are
// written into the database once it can write again, after a restart too.
//
// At open the store checks that the file is a sound database it can
// write, of a schema version it knows (PRAGMA user_version). A database of
// the first schema (one row per reading) is migrated in place, field by
// field, in the background while the store serves, logging its progress
// and reporting it in Migration (migrate.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	DefaultFlushRows     = 20000
	DefaultBusyTimeout   = 5 * time.Second
	DefaultPruneInterval = 10 * time.Minute
	// DefaultMaxBuffered is how many readings the store keeps in memory
	// while it cannot write.
	DefaultMaxBuffered = 1 << 20
	// maxRetryDelay bounds the backoff between failing flushes.
	maxRetryDelay = 5 * time.Second
	// DefaultTenSecondRetention is how long the 10 s tier keeps its cells
	// unless configured: it costs about as much disk as the readings'
	// chunks themselves, and only short ranges use it.
	DefaultTenSecondRetention = 3 * 24 * time.Hour
)

// Options configures a Store. The zero value gives the defaults.
type Options struct {
	// FlushInterval is how long appended readings may wait before they are
	// committed (default 1s).
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushRows commits as soon as this many readings wait (default 20000).
	FlushRows int `yaml:"flush_rows"`
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process (default 5s).
	BusyTimeout time.Duration `yaml:"busy_timeout"`
	// Retention says how long readings and each tier keep data.
	Retention Retention `yaml:"retention"`
	// PruneInterval is how often retention is applied (default 10m).
	PruneInterval time.Duration `yaml:"prune_interval"`
	// MaxBuffered bounds the readings kept in memory while flushes fail
	// (default DefaultMaxBuffered, about 16 to 32 MB of number readings);
	// beyond it they are spilled to SpillDir, or dropped if that fails.
	MaxBuffered int `yaml:"max_buffered"`
	// SpillDir is where readings that cannot be written are spilled
	// (default: the database's directory). On another file system it keeps
	// them through a full data disk and a stop.
	SpillDir string `yaml:"spill_dir"`
	// Now is the clock retention is measured on (default time.Now).
	Now func() time.Time `yaml:"-"`

	// migrateHook, when set, is called by the migration before each field
	// (readings 0) and after each block of a field it writes (tests).
	migrateHook func(ctx context.Context, field string, readings int64)
	// pruneHook, when set, is called by Prune once its transaction ended
	// (tests).
	pruneHook func()
}

// Retention is how long readings and each rollup tier are kept; 0 keeps
// them forever, except for TenSeconds, whose 0 means
// DefaultTenSecondRetention (a negative value is refused; use a very long
// one to keep it forever). Each tier has its own: a query over a range a
// tier no longer covers is answered from the sources that still cover it
// (see plan.go).
type Retention struct {
	Raw        time.Duration `yaml:"raw"`
	TenSeconds time.Duration `yaml:"10s"`
	Minute     time.Duration `yaml:"minute"`
	TenMinutes time.Duration `yaml:"10m"`
	Hour       time.Duration `yaml:"hour"`
	Day        time.Duration `yaml:"day"`
}

// durations lists the retentions of raw readings and of each tier, in
// the order of Tiers after raw.
func (r Retention) durations() []time.Duration {
	return []time.Duration{r.Raw, r.TenSeconds, r.Minute, r.TenMinutes, r.Hour, r.Day}
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
	case o.MaxBuffered < 0:
		return fmt.Errorf("max_buffered %d is negative", o.MaxBuffered)
	}
	for _, d := range o.Retention.durations() {
		if d < 0 {
			return fmt.Errorf("retention %+v has a negative duration", o.Retention)
		}
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
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBuffered == 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.Retention.TenSeconds == 0 {
		o.Retention.TenSeconds = DefaultTenSecondRetention
	}
	return o
}

// SchemaVersion is the PRAGMA user_version of the schema this code
// writes. Version 1 is the first schema (one row per reading, user_version
// 0 with a readings table), which Open migrates. Version 3 has the tables
// of version 2 and may hold chunks and pages of the second chunk format
// (package chunk), which a release that knows version 2 cannot read: it
// refuses the file instead. A database of version 2 is opened as it is
// (the first format still decodes) and marked 3.
const SchemaVersion = 3

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
CREATE TABLE IF NOT EXISTS chunks (
	id        INTEGER PRIMARY KEY,
	series_id INTEGER NOT NULL,
	start_ts  INTEGER NOT NULL,
	end_ts    INTEGER NOT NULL,
	n         INTEGER NOT NULL,
	sealed    INTEGER NOT NULL,
	data      BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_by_time ON chunks (series_id, start_ts);
CREATE TABLE IF NOT EXISTS rollups (
	id        INTEGER PRIMARY KEY,
	series_id INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	page      INTEGER NOT NULL,
	data      BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rollups_by_page ON rollups (series_id, tier, page);
CREATE TABLE IF NOT EXISTS horizons (
	source  INTEGER PRIMARY KEY,
	from_ts INTEGER NOT NULL
);
`

// Store is a store.Store in one SQLite file.
type Store struct {
	db   *sql.DB
	path string
	log  *slog.Logger
	o    Options

	writeMu sync.Mutex // serialises flushes, PutFields, Prune and each field's migration

	mu  sync.Mutex // guards the fields below
	buf *buffer
	// bufSince is when the oldest reading in buf was appended.
	bufSince time.Time
	// out holds readings taken from buf by a flush or spill in progress.
	out []*buffer
	// spills are the spill files waiting to be written, oldest first.
	spills []spillFile
	fail   failure
	ws     store.WriteStats  // counters and maxima; the rest is filled in by WriteStats
	btypes map[string]string // value type per field appended
	ids    map[string]int64
	types  map[int64]string // value type per series
	closed bool
	// mig is the migration from schema 1; nil if the file needed none.
	mig *migration

	// heads is, per series, what the write path knows of its tail; only
	// the flusher (under writeMu) uses it.
	heads map[int64]*head
	// pageScratch is the flusher's memory for rewriting rollup pages.
	pageScratch pageScratch
	// horizons are, per source (0 raw, 1+i tier i), the time from which
	// the source is complete; guarded by mu.
	horizons []int64

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// noRollups makes queries read only readings, for tests and benchmarks.
	noRollups bool
	// tierScans counts rollup page reads, for tests.
	tierScans atomic.Int64
	// fault, when set, fails each commit it returns an error for (tests
	// of failing writes; a full disk fails the same way).
	fault func() error
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in the file at path and starts its
// flusher and, on a database of schema 1, its migration, which runs in the
// background (see Migration). logger may be nil. It refuses, with one line naming the file
// and the problem, a directory or file it cannot write, a file that is not
// a sound SQLite database and a schema newer than SchemaVersion.
func Open(path string, o Options, logger *slog.Logger) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite store options: %w", err)
	}
	o = o.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkWritable(path); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if o.SpillDir == "" {
		o.SpillDir = filepath.Dir(path)
	} else if err := os.MkdirAll(o.SpillDir, 0o755); err != nil {
		return nil, fmt.Errorf("store %s: spill_dir: %w", path, err)
	}
	// A file: URI, so the path's own '?' and '#' must be escaped.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	// Each connection keeps its prepared statements (_stmt_cache_size):
	// the write path runs the same few per field and tier every flush.
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=%d&_txlock=immediate&_stmt_cache_size=32",
		esc, o.BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{
		db: db, path: path, log: logger, o: o, buf: &buffer{}, ids: map[string]int64{}, types: map[int64]string{}, btypes: map[string]string{},
		heads: map[int64]*head{}, horizons: make([]int64, 1+len(Tiers)),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := s.openSpills(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	go s.run()
	if s.mig != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.mig.cancel = cancel
		go s.runMigration(ctx)
	}
	return s, nil
}

// checkWritable refuses a directory or an existing file this process
// cannot write, with the reason, before SQLite gives a vaguer one.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".telemesh-write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return errors.New("is a directory")
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("database file is not writable: %w", errors.Unwrap(err))
		}
		f.Close()
	}
	return nil
}

func (s *Store) init() error {
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return notADatabase(err)
	}
	if mode != "wal" {
		s.log.Warn("sqlite store not in WAL mode", "journal_mode", mode)
	}
	var check string
	if err := s.db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&check); err != nil {
		return notADatabase(err)
	}
	if check != "ok" {
		check = strings.ReplaceAll(strings.TrimPrefix(check, "*** in database main ***\n"), "\n", "; ")
		return fmt.Errorf("database is corrupt (quick_check: %s)", check)
	}
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return notADatabase(err)
	}
	var old int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'readings' AND type = 'table'").Scan(&old); err != nil {
		return notADatabase(err)
	}
	switch {
	case version > SchemaVersion:
		return fmt.Errorf("schema version %d is newer than this telemesh knows (%d); use a newer telemesh", version, SchemaVersion)
	case version == 0 || version == 2 || version == SchemaVersion:
	default:
		return fmt.Errorf("unknown schema version %d", version)
	}
	if err := s.newPageSize(ctx); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := s.loadSeries(ctx); err != nil {
		return err
	}
	if err := s.loadHorizons(ctx); err != nil {
		return err
	}
	if old > 0 {
		if err := s.prepareMigration(ctx); err != nil {
			return fmt.Errorf("migrate from schema 1: %w", err)
		}
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return nil
}

// PageSize is the page size of a new database. Sealed chunks are 4–7 KB
// and rollup pages 1–2 KB: with 4 KB pages, a chunk's part in its b-tree
// leaf (what does not fill whole overflow pages) is often more than half
// a page, so most leaves hold one, and two 1.5 KB rollup pages fill a
// page to 70 %; with 2 KB pages the bench's database is 16 % smaller
// (0.98 B a reading instead of 1.17). An existing database keeps its page
// size (VACUUM would change it).
const PageSize = 2048

// newPageSize gives a new database, one without tables, PageSize.
// SQLite ignores a page size in WAL mode, so the journal mode is switched
// off and on around it, and VACUUM applies it to the file's first page.
func (s *Store) newPageSize(ctx context.Context) error {
	var tables int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return err
	}
	if tables > 0 {
		return nil
	}
	// One connection: the page size is a setting of the connection until
	// VACUUM writes it.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{"PRAGMA journal_mode=DELETE", fmt.Sprintf("PRAGMA page_size=%d", PageSize), "VACUUM", "PRAGMA journal_mode=WAL"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// notADatabase words SQLite's errors about files it cannot read.
func notADatabase(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "file is not a database"), strings.Contains(msg, "malformed"):
		return fmt.Errorf("not a sound SQLite database: %w", err)
	}
	return err
}

func (s *Store) loadSeries(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, value_type FROM series")
	if err != nil {
		return notADatabase(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name, typ string
		if err := rows.Scan(&id, &name, &typ); err != nil {
			return err
		}
		s.ids[name] = id
		s.types[id] = typ
	}
	return rows.Err()
}

// run flushes and prunes in the background until Close. While flushes
// fail it retries with backoff (see failure).
func (s *Store) run() {
	defer close(s.done)
	flush := time.NewTicker(s.o.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(s.o.PruneInterval)
	defer prune.Stop()
	s.prune(s.o.Now())
	for {
		select {
		case <-s.stop:
			return
		case <-flush.C:
		case <-s.kick:
		case <-prune.C:
			s.prune(s.o.Now())
			continue
		}
		if s.backingOff(time.Now()) {
			continue
		}
		if err := s.Flush(context.Background()); err != nil {
			s.log.Debug("flush readings", "err", err)
		}
	}
}

func (s *Store) checkOpen() error {
	if s.closed {
		return protocol.Errorf(protocol.Unavailable, "store closed")
	}
	return nil
}

func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkOpen()
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
	s.remember(created, nil)
	return nil
}

// inTx runs fn in a transaction and commits it unless fn fails. The
// caller holds writeMu.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.open(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// remember caches the ids and value types of series a committed
// transaction created.
func (s *Store) remember(ids map[string]int64, types map[int64]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, id := range ids {
		s.ids[name] = id
	}
	for id, t := range types {
		s.types[id] = t
	}
}

// sync makes appended readings visible to a query of fields over
// [start, end): it commits them, or, while the store cannot write, fails
// if the range holds readings of those fields that are not written yet.
//
// During a migration, a field not converted yet fails with an Unavailable
// error, and a range without unwritten readings is answered at once,
// without waiting for the flush behind the field being converted.
func (s *Store) sync(ctx context.Context, fields []string, start, end int64) error {
	if err := s.notConverted(fields); err != nil {
		return err
	}
	if s.migrating() && s.open() == nil && s.unwritten(fields, start, end) == nil {
		return ctx.Err()
	}
	err := s.syncAll(ctx)
	if err == nil || ctx.Err() != nil || s.open() != nil {
		return err
	}
	return s.unwritten(fields, start, end)
}

// syncAll commits what is pending (nothing while the store backs off
// from failing flushes: it reports the failure instead).
func (s *Store) syncAll(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	if err := s.failing(); err != nil {
		return err
	}
	if s.pending() {
		return s.Flush(ctx)
	}
	return nil
}

// Fields implements store.Store. It reads only the series table, which
// keeps each field's first and last reading time. During a migration it
// adds the spans of the old rows of fields not converted yet, and does not
// wait for a flush.
func (s *Store) Fields(ctx context.Context, start, end int64) ([]store.FieldMeta, error) {
	if s.migrating() {
		if err := s.open(); err != nil {
			return nil, err
		}
	} else if err := s.syncAll(ctx); err != nil && (ctx.Err() != nil || s.open() != nil) {
		return nil, err
	}
	// While the store cannot write, the spans of unwritten readings are
	// added to the stored ones.
	pending := s.unwrittenSpans()
	for name, sp := range s.legacySpans() {
		pending[name] = pending[name].merge(sp)
	}
	rows, err := s.db.QueryContext(context.WithoutCancel(ctx), `SELECT name, description, units, type, timeline, interval, value_type,
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
		if sp, ok := pending[f.Name]; ok {
			if f.First == 0 && f.Last == 0 {
				f.First, f.Last = sp.lo, sp.hi
			} else {
				f.First, f.Last = min(f.First, sp.lo), max(f.Last, sp.hi)
			}
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

// Close implements store.Store: it stops the migration if one runs (the
// field under way is rolled back; the next open resumes), stops the
// flusher, commits what is buffered and closes the database. If that commit fails, the buffer goes
// to a spill file, written at the next open; if that fails too, the log
// and the error say exactly which readings are lost. Later calls do
// nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if s.mig != nil && s.mig.cancel != nil {
		s.mig.cancel()
		<-s.mig.done
	}
	close(s.stop)
	<-s.done
	err := s.Flush(context.Background())
	if err != nil {
		err = s.spillAtClose(err)
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// DiskUsage flushes, applies retention, checkpoints the WAL and returns
// the bytes of the database's pages in use (free pages, which SQLite
// reuses, not counted) and, per field, the bytes of its chunks and rollup
// pages.
func (s *Store) DiskUsage(ctx context.Context) (int64, map[string]int64, error) {
	if err := s.Flush(ctx); err != nil {
		return 0, nil, err
	}
	if err := s.Prune(ctx, s.o.Now()); err != nil {
		return 0, nil, err
	}
	db := context.WithoutCancel(ctx)
	if _, err := s.db.ExecContext(db, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, nil, err
	}
	var pages, free, size int64
	if err := s.db.QueryRowContext(db, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
		(SELECT page_size FROM pragma_page_size())`).Scan(&pages, &free, &size); err != nil {
		return 0, nil, err
	}
	pages -= free
	rows, err := s.db.QueryContext(db, `SELECT s.name, coalesce((SELECT sum(length(data)) FROM chunks WHERE series_id = s.id), 0)
		+ coalesce((SELECT sum(length(data)) FROM rollups WHERE series_id = s.id), 0) FROM series s`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	per := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return 0, nil, err
		}
		per[name] = n
	}
	return pages * size, per, rows.Err()
}
