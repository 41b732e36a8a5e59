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
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/downsample"
	"github.com/telemesh/telemesh/internal/protocol"
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
	buf    []protocol.Reading
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

func (s *Store) prune(now time.Time) {
	if err := s.Prune(context.Background(), now); err != nil {
		s.log.Error("prune store", "err", err)
	}
}

func (s *Store) checkOpen() error {
	if s.closed {
		return protocol.Errorf(protocol.Unavailable, "store closed")
	}
	return nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, readings []protocol.Reading) error {
	rs, err := downsample.Readings(readings)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if err := s.checkOpen(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.buf = append(s.buf, rs...)
	n := len(s.buf)
	s.mu.Unlock()
	switch {
	case n >= 20*s.o.FlushRows:
		// The flusher is falling behind: make the caller wait.
		return s.Flush(ctx)
	case n >= s.o.FlushRows:
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// pending reports whether readings wait for a flush.
func (s *Store) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf) > 0
}

// Flush implements store.Store.
func (s *Store) Flush(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	batch := s.buf
	s.buf = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return ctx.Err()
	}
	if err := s.write(ctx, batch); err != nil {
		// Keep the readings for the next attempt, before any appended since.
		s.mu.Lock()
		s.buf = append(batch, s.buf...)
		s.mu.Unlock()
		return fmt.Errorf("flush %d readings: %w", len(batch), err)
	}
	return nil
}

// cellKey names one rollup row.
type cellKey struct {
	tier   int
	series int64
	bucket int64
}

// write commits a batch of readings with the rollup rows they touch.
func (s *Store) write(ctx context.Context, batch []protocol.Reading) error {
	batch = sortBatch(batch)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	newIDs := map[string]int64{}
	ins, err := tx.PrepareContext(ctx, "INSERT INTO readings (series_id, ts, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
	if err != nil {
		return err
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, "UPDATE readings SET value = ? WHERE series_id = ? AND ts = ?")
	if err != nil {
		return err
	}
	defer upd.Close()

	cells := map[cellKey]*downsample.Cell{}
	dirty := map[cellKey]bool{}
	type extent struct{ first, last int64 }
	spans := map[int64]*extent{}
	var id int64
	for i, r := range batch {
		if i == 0 || r.Field != batch[i-1].Field {
			if id, err = s.seriesID(ctx, tx, r.Field, r.Value, newIDs); err != nil {
				return err
			}
			spans[id] = &extent{r.Time, r.Time}
		}
		spans[id].last = r.Time
		v := toSQL(r.Value)
		res, err := ins.ExecContext(ctx, id, r.Time, v)
		if err != nil {
			return fmt.Errorf("insert reading: %w", err)
		}
		replaced := false
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if _, err := upd.ExecContext(ctx, v, id, r.Time); err != nil {
				return fmt.Errorf("replace reading: %w", err)
			}
			replaced = true
		}
		for ti, t := range tiers {
			k := cellKey{ti, id, downsample.Start(r.Time, t.width)}
			if replaced {
				dirty[k] = true
			}
			c := cells[k]
			if c == nil {
				c = &downsample.Cell{}
				cells[k] = c
			}
			c.Add(r.Time, r.Value)
		}
	}
	if err := s.updateTiers(ctx, tx, cells, dirty); err != nil {
		return err
	}
	for id, sp := range spans {
		if _, err := tx.ExecContext(ctx, `UPDATE series SET
			first_ts = CASE WHEN first_ts IS NULL OR ?1 < first_ts THEN ?1 ELSE first_ts END,
			last_ts = CASE WHEN last_ts IS NULL OR ?2 > last_ts THEN ?2 ELSE last_ts END
			WHERE id = ?3`, sp.first, sp.last, id); err != nil {
			return fmt.Errorf("update series span: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.remember(newIDs)
	return nil
}

// sortBatch returns the readings grouped by field and sorted by time; of
// readings of a field at the same time the last appended wins. Readings
// usually arrive in time order, so grouping costs O(n).
func sortBatch(batch []protocol.Reading) []protocol.Reading {
	groups := map[string][]protocol.Reading{}
	var names []string
	for _, r := range batch {
		g, ok := groups[r.Field]
		if !ok {
			names = append(names, r.Field)
		}
		groups[r.Field] = append(g, r)
	}
	slices.Sort(names)
	// A new slice: on a failed commit the caller requeues batch as it was.
	out := make([]protocol.Reading, 0, len(batch))
	for _, name := range names {
		g := groups[name]
		if !slices.IsSortedFunc(g, func(a, b protocol.Reading) int { return cmp.Compare(a.Time, b.Time) }) {
			slices.SortStableFunc(g, func(a, b protocol.Reading) int { return cmp.Compare(a.Time, b.Time) })
		}
		for i, r := range g {
			if i+1 < len(g) && g[i+1].Time == r.Time {
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

// seriesID returns the id of a field, creating its series row in tx.
func (s *Store) seriesID(ctx context.Context, tx *sql.Tx, name string, v any, created map[string]int64) (int64, error) {
	s.mu.Lock()
	id, ok := s.ids[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO series (name, value_type) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, protocol.TypeOf(v)); err != nil {
		return 0, fmt.Errorf("create series: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT id FROM series WHERE name = ?", name).Scan(&id); err != nil {
		return 0, fmt.Errorf("create series: %w", err)
	}
	created[name] = id
	return id, nil
}

// updateTiers folds the batch's cells into the rollup rows. A row whose
// bucket had a reading replaced is recomputed from the readings instead,
// unless raw retention may already have removed some of them.
func (s *Store) updateTiers(ctx context.Context, tx *sql.Tx, cells map[cellKey]*downsample.Cell, dirty map[cellKey]bool) error {
	rawFrom := int64(math.MinInt64)
	if s.o.Retention.Raw > 0 {
		rawFrom = time.Now().Add(-s.o.Retention.Raw).UnixNano()
	}
	for k, c := range cells {
		t := tiers[k.tier]
		var cell downsample.Cell
		if dirty[k] && k.bucket >= rawFrom {
			var err error
			if cell, err = rawCell(ctx, tx, k.series, k.bucket, k.bucket+t.width); err != nil {
				return err
			}
		} else {
			var blob []byte
			err := tx.QueryRowContext(ctx, "SELECT cell FROM "+t.table+" WHERE series_id = ? AND bucket = ?", k.series, k.bucket).Scan(&blob)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read %s: %w", t.table, err)
			default:
				if cell, err = decodeCell(k.bucket, blob); err != nil {
					return fmt.Errorf("read %s: %w", t.table, err)
				}
			}
			cell.Merge(*c)
		}
		if err := writeCell(ctx, tx, t.table, k.series, k.bucket, cell); err != nil {
			return err
		}
	}
	return nil
}

func writeCell(ctx context.Context, tx *sql.Tx, table string, series, bucket int64, c downsample.Cell) error {
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO "+table+" (series_id, bucket, cell) VALUES (?, ?, ?)", series, bucket, encodeCell(bucket, c))
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

// rawCell summarises the readings of a series in [from, to).
func rawCell(ctx context.Context, q querier, series, from, to int64) (downsample.Cell, error) {
	var c downsample.Cell
	err := scanRaw(ctx, q, series, from, to, func(t int64, v any) { c.Add(t, v) })
	return c, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanRaw calls fn for each reading of a series in [from, to), in time order.
func scanRaw(ctx context.Context, q querier, series, from, to int64, fn func(t int64, v any)) error {
	if from >= to {
		return nil
	}
	rows, err := q.QueryContext(ctx, "SELECT ts, value FROM readings WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts", series, from, to)
	if err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	defer rows.Close()
	var t int64
	var v any
	for n := 0; rows.Next(); n++ {
		if n&4095 == 4095 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := rows.Scan(&t, &v); err != nil {
			return err
		}
		fn(t, fromSQL(v))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	return nil
}

// toSQL maps a reading value onto SQLite's storage classes.
func toSQL(v any) any {
	if b, ok := v.(bool); ok {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// fromSQL undoes toSQL.
func fromSQL(v any) any {
	switch x := v.(type) {
	case int64:
		return x != 0
	case []byte:
		return string(x)
	case nil:
		return math.NaN()
	}
	return v
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

// Query implements store.Store.
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Series, error) {
	agg, err := downsample.CheckQuery(q.Bucket, q.Agg, q.Limit)
	if err != nil {
		return nil, err
	}
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	if q.End <= q.Start {
		return nil, nil
	}
	type field struct {
		name string
		id   int64
	}
	var fields []field
	s.mu.Lock()
	for _, name := range q.Fields {
		if id, ok := s.ids[name]; ok && !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			fields = append(fields, field{name, id})
		}
	}
	s.mu.Unlock()

	var out []store.Series
	if q.Bucket == 0 {
		if q.Limit > 0 {
			points := 0
			for _, f := range fields {
				var n int
				if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM readings WHERE series_id = ? AND ts >= ? AND ts < ?", f.id, q.Start, q.End).Scan(&n); err != nil {
					return nil, fmt.Errorf("count readings: %w", err)
				}
				points += n
			}
			if points > q.Limit {
				return nil, downsample.TooMuchData(points, q.Limit)
			}
		}
		for _, f := range fields {
			sr := store.Series{Field: f.name}
			err := scanRaw(ctx, s.db, f.id, q.Start, q.End, func(t int64, v any) {
				sr.Times = append(sr.Times, t)
				sr.Values = append(sr.Values, v)
			})
			if err != nil {
				return nil, err
			}
			if len(sr.Times) > 0 {
				out = append(out, sr)
			}
		}
		return out, nil
	}

	// Bucketed: each Bucketer keeps at most the points left under the
	// limit, then only counts, so an oversized answer costs no memory and
	// still reports its exact size.
	budget := math.MaxInt
	if q.Limit > 0 {
		budget = q.Limit
	}
	points := 0
	for _, f := range fields {
		b := downsample.New(q.Bucket)
		b.Limit(agg, max(budget-points, 0))
		if err := s.bucketed(ctx, f.id, q, b); err != nil {
			return nil, err
		}
		points += b.Points(agg)
		if points > budget {
			continue
		}
		times, values := b.Result(agg)
		if len(times) > 0 {
			out = append(out, store.Series{Field: f.name, Times: times, Values: values})
		}
	}
	if points > budget {
		return nil, downsample.TooMuchData(points, q.Limit)
	}
	return out, nil
}

// minTierCells is how many tier buckets a query bucket whose width is not
// a multiple of the tier's must span at least for the tier to be used:
// each such query bucket still scans the readings of the tier bucket its
// boundary splits.
const minTierCells = 4

// span is a half-open time interval [from, to).
type span struct{ from, to int64 }

// bucketed feeds the readings of one series in [q.Start, q.End) to b, in
// time order. With a rollup tier fine enough for q.Bucket it feeds the
// tier's rows for the tier buckets that lie wholly inside the range and
// inside one query bucket, and the readings of the rest: the partial tier
// buckets at either end of the range and, when q.Bucket is not a multiple
// of the tier width, the tier buckets that query bucket boundaries split.
func (s *Store) bucketed(ctx context.Context, series int64, q store.Query, b *downsample.Bucketer) error {
	add := func(t int64, v any) { b.Add(t, v) }
	if s.noRollups {
		return scanRaw(ctx, s.db, series, q.Start, q.End, add)
	}
	for _, t := range tiers {
		aligned := q.Bucket%t.width == 0
		if !aligned && q.Bucket < minTierCells*t.width {
			continue
		}
		from := downsample.Start(q.Start-1, t.width) + t.width // first tier bucket at or after Start
		to := downsample.Start(q.End, t.width)
		if from >= to {
			continue
		}
		raw := []span{{q.Start, from}}
		if !aligned {
			for k := downsample.Start(from, q.Bucket) + q.Bucket; k < to; k += q.Bucket {
				if c := downsample.Start(k, t.width); c != k {
					raw = append(raw, span{c, c + t.width})
				}
			}
		}
		raw = append(raw, span{to, q.End})
		return s.scanTier(ctx, t, series, from, to, raw, b)
	}
	return scanRaw(ctx, s.db, series, q.Start, q.End, add)
}

// scanTier feeds b the rows of tier t in [from, to) and the readings of
// the sorted, disjoint spans raw, skipping tier rows that raw covers.
func (s *Store) scanTier(ctx context.Context, t tier, series, from, to int64, raw []span, b *downsample.Bucketer) error {
	s.tierScans.Add(1)
	// Read the tier rows first: holding their cursor while scanning
	// readings would take two connections per query and could exhaust
	// the pool. They are few: at least minTierCells per point.
	type row struct {
		bucket int64
		cell   downsample.Cell
	}
	var cells []row
	rows, err := s.db.QueryContext(ctx, "SELECT bucket, cell FROM "+t.table+" WHERE series_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket", series, from, to)
	if err != nil {
		return fmt.Errorf("scan %s: %w", t.table, err)
	}
	defer rows.Close()
	var bucket int64
	var blob sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&bucket, &blob); err != nil {
			return fmt.Errorf("scan %s: %w", t.table, err)
		}
		c, err := decodeCell(bucket, blob)
		if err != nil {
			return fmt.Errorf("scan %s at %d: %w", t.table, bucket, err)
		}
		cells = append(cells, row{bucket, c})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", t.table, err)
	}
	rows.Close()

	add := func(t int64, v any) { b.Add(t, v) }
	next := 0
	// rawUpTo scans the raw spans starting before t.
	rawUpTo := func(t int64) error {
		for ; next < len(raw) && raw[next].from < t; next++ {
			if err := scanRaw(ctx, s.db, series, raw[next].from, raw[next].to, add); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range cells {
		if err := rawUpTo(r.bucket + 1); err != nil {
			return err
		}
		if next > 0 && r.bucket < raw[next-1].to {
			continue // the readings of this bucket were fed instead
		}
		b.AddCell(r.bucket, r.cell)
	}
	return rawUpTo(math.MaxInt64)
}

// Prune applies the retention of each tier relative to now. Rollup rows
// go only once their whole bucket is older than the tier's retention.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	r := s.o.Retention
	if r.Raw == 0 && r.Minute == 0 && r.Hour == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var deleted int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var ids []int64
		rows, err := tx.QueryContext(ctx, "SELECT id FROM series")
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		type target struct {
			table, col string
			keep       time.Duration
			width      int64
		}
		targets := []target{{"readings", "ts", r.Raw, 1}}
		for _, t := range tiers {
			keep := r.Hour
			if t.width == int64(time.Minute) {
				keep = r.Minute
			}
			targets = append(targets, target{t.table, "bucket", keep, t.width})
		}
		for _, tg := range targets {
			if tg.keep == 0 {
				continue
			}
			// Delete rows whose whole bucket ends before the cutoff.
			cutoff := downsample.Start(now.Add(-tg.keep).UnixNano(), tg.width) - tg.width + 1
			if tg.width == 1 {
				cutoff = now.Add(-tg.keep).UnixNano()
			}
			for _, id := range ids {
				res, err := tx.ExecContext(ctx, "DELETE FROM "+tg.table+" WHERE series_id = ? AND "+tg.col+" < ?", id, cutoff)
				if err != nil {
					return fmt.Errorf("prune %s: %w", tg.table, err)
				}
				n, _ := res.RowsAffected()
				deleted += n
			}
		}
		if deleted > 0 {
			if err := refreshFirst(ctx, tx, ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Debug("pruned store", "rows", deleted)
	return nil
}

// refreshFirst recomputes each series' first reading time from what the
// tiers still hold.
func refreshFirst(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for _, id := range ids {
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT min(ts) FROM readings WHERE series_id = ?", id).Scan(&first); err != nil {
			return fmt.Errorf("refresh series span: %w", err)
		}
		for _, t := range tiers {
			var bucket int64
			var blob []byte
			err := tx.QueryRowContext(ctx, "SELECT bucket, cell FROM "+t.table+" WHERE series_id = ? ORDER BY bucket LIMIT 1", id).Scan(&bucket, &blob)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("refresh series span: %w", err)
			}
			c, err := decodeCell(bucket, blob)
			if err != nil {
				return fmt.Errorf("refresh series span: %w", err)
			}
			if !first.Valid || c.First < first.Int64 {
				first = sql.NullInt64{Int64: c.First, Valid: true}
			}
		}
		var err error
		if first.Valid {
			_, err = tx.ExecContext(ctx, "UPDATE series SET first_ts = ? WHERE id = ?", first.Int64, id)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE series SET first_ts = NULL, last_ts = NULL WHERE id = ?", id)
		}
		if err != nil {
			return fmt.Errorf("refresh series span: %w", err)
		}
	}
	return nil
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
