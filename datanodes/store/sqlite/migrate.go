package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Migration from schema 1: one row per reading in a readings table, and
// rollup_minute and rollup_hour tables of one encoded cell per row.
//
// Open lists the fields that still have old rows, with their time spans,
// and returns; a goroutine of the store converts them in the background
// while it serves, and Close stops it (migration.cancel, migration.done).
// Each field is converted in its own transaction, which writes its chunks
// and rollup pages, records the horizons its carried-over cells imply and
// deletes its old rows, so a migration stopped by Close or a crash resumes
// at the next open with the fields it had not finished, and the old rows
// of a field go only in the transaction that commits their new ones. A
// field that fails (a corrupt row, a full disk) is logged, left as it is
// and retried with backoff after the others; Store.Migration reports the
// problem. The old tables are dropped at the end; SQLite reuses their
// pages.
//
// Readings appended meanwhile are written as usual, into chunks. Those of
// a field not converted yet are merged with its old rows when it is
// converted, an appended reading replacing an old one at the same time.
// Queries of a converted field are answered in full; those of a field not
// converted yet fail with an Unavailable error naming it and the progress
// (never an answer missing its old rows); Fields lists every field, with
// the span of its old rows too. Rollup cells of buckets older than the
// field's oldest reading (readings removed by raw retention) are carried
// over into the minute and hour tiers and the coarser ones, so nothing
// the old store could answer is lost.

// Migration pacing.
const (
	// migrateLogEvery is how often a field's conversion logs its count.
	migrateLogEvery = 10 * time.Second
	// maxMigrateRetry bounds the backoff between attempts at fields that
	// failed.
	maxMigrateRetry = time.Minute
)

// migration is the state of the background conversion of the schema 1
// tables. Its fields are guarded by Store.mu, except cancel and done,
// set before the goroutine starts.
type migration struct {
	store.Migration
	// legacy holds, by name, the fields not converted yet.
	legacy map[string]legacyField
	// cur counts the readings of the field under way, in its open
	// transaction.
	cur    int64
	cancel context.CancelFunc
	done   chan struct{}
}

// legacyField is a field with schema 1 rows.
type legacyField struct {
	id   int64
	name string
	sp   span // of its old readings and rollup cells
}

// prepareMigration lists the fields that have schema 1 rows and their
// spans: quick lookups on the old tables' keys, so Open returns promptly.
// The caller has created the schema 2 tables.
func (s *Store) prepareMigration(ctx context.Context) error {
	fields, err := s.legacySeries(ctx)
	if err != nil {
		return err
	}
	m := &migration{
		Migration: store.Migration{Active: true, Schema: SchemaVersion, Fields: len(fields), Since: time.Now()},
		legacy:    map[string]legacyField{}, done: make(chan struct{}),
	}
	for _, f := range fields {
		m.legacy[f.name] = f
	}
	s.mig = m
	return nil
}

// legacySeries lists the series that still have schema 1 rows, with the
// span of those rows.
func (s *Store) legacySeries(ctx context.Context) ([]legacyField, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name,
		(SELECT min(ts) FROM readings WHERE series_id = s.id), (SELECT max(ts) FROM readings WHERE series_id = s.id)
		FROM series s WHERE EXISTS (SELECT 1 FROM readings WHERE series_id = s.id)
		OR EXISTS (SELECT 1 FROM rollup_minute WHERE series_id = s.id) OR EXISTS (SELECT 1 FROM rollup_hour WHERE series_id = s.id) ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []legacyField
	for rows.Next() {
		var f legacyField
		var lo, hi sql.NullInt64
		if err := rows.Scan(&f.id, &f.name, &lo, &hi); err != nil {
			return nil, err
		}
		if lo.Valid {
			f.sp = span{lo: lo.Int64, hi: hi.Int64, n: 1}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		// The oldest cell, where raw retention removed older readings.
		for _, t := range []string{"rollup_hour", "rollup_minute"} {
			var b int64
			var blob []byte
			err := s.db.QueryRowContext(ctx, "SELECT bucket, cell FROM "+t+" WHERE series_id = ? ORDER BY bucket LIMIT 1", out[i].id).Scan(&b, &blob)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if c, err := legacyCell(b, blob); err == nil {
				out[i].sp = out[i].sp.merge(span{lo: c.First, hi: c.LastT, n: 1})
			}
		}
	}
	return out, nil
}

// migrating reports whether a migration is under way.
func (s *Store) migrating() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mig != nil && s.mig.Active
}

// Migration returns the state of the store's migration from schema 1
// (the zero value when there is none, or once it is done).
func (s *Store) Migration() store.Migration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.migrationLocked()
}

// migrationLocked is Migration; the caller holds mu.
func (s *Store) migrationLocked() store.Migration {
	if s.mig == nil || !s.mig.Active {
		return store.Migration{}
	}
	m := s.mig.Migration
	m.ReadingsDone += s.mig.cur
	return m
}

// notConverted fails, with an Unavailable error naming them and the
// progress, when fields have schema 1 rows not converted yet.
func (s *Store) notConverted(fields []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mig == nil || !s.mig.Active {
		return nil
	}
	var names []string
	for _, f := range fields {
		if _, ok := s.mig.legacy[f]; ok && !slices.Contains(names, f) {
			names = append(names, f)
		}
	}
	if len(names) == 0 {
		return nil
	}
	m := s.migrationLocked()
	what := "field " + names[0]
	if len(names) > 1 {
		what = "fields " + strings.Join(names, ", ")
	}
	return protocol.Errorf(protocol.Unavailable, "store migrating to schema %d: %s not converted yet (%d of %d fields, %d%%)",
		m.Schema, what, m.FieldsDone, m.Fields, int(100*m.Progress()))
}

// legacySpans returns, by name, the spans of the old rows of fields not
// converted yet.
func (s *Store) legacySpans() map[string]span {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mig == nil || !s.mig.Active {
		return nil
	}
	out := make(map[string]span, len(s.mig.legacy))
	for name, f := range s.mig.legacy {
		out[name] = f.sp
	}
	return out
}

// runMigration converts the schema 1 tables, field by field, until done
// or ctx ends; fields that fail are retried with backoff.
func (s *Store) runMigration(ctx context.Context) {
	m := s.mig
	defer close(m.done)
	t0 := time.Now()
	s.mu.Lock()
	todo := s.legacyOrder()
	s.mu.Unlock()
	var total int64
	for _, f := range todo {
		var n int64
		if err := s.db.QueryRowContext(context.WithoutCancel(ctx), "SELECT count(*) FROM readings WHERE series_id = ?", f.id).Scan(&n); err != nil {
			total = 0 // progress by fields
			break
		}
		total += n
		if ctx.Err() != nil {
			s.log.Info("store migration stopped by close; it resumes at the next open", "file", s.path)
			return
		}
	}
	s.mu.Lock()
	m.Readings = total
	s.mu.Unlock()
	s.log.Info(fmt.Sprintf("migrating store to schema %d in the background", SchemaVersion), "file", s.path, "fields", len(todo), "readings", total)
	delay := time.Second
	for {
		s.mu.Lock()
		todo := s.legacyOrder()
		s.mu.Unlock()
		failed := false
		for _, f := range todo {
			if s.o.migrateHook != nil {
				s.o.migrateHook(ctx, f.name, 0)
			}
			if ctx.Err() != nil {
				break
			}
			n, err := s.migrateSeries(ctx, f)
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				failed = true
				s.migrateFailed(fmt.Errorf("field %s: %w", f.name, err))
				s.log.Error("store migration: field not converted, its old rows kept; retrying after the others", "field", f.name, "err", err)
				continue
			}
			st := s.Migration()
			s.log.Info("migrating store", "field", f.name, "field_readings", n,
				"done", fmt.Sprintf("%d/%d fields, %d/%d readings", st.FieldsDone, st.Fields, st.ReadingsDone, st.Readings))
		}
		if ctx.Err() != nil {
			st := s.Migration()
			s.log.Info("store migration stopped by close; it resumes at the next open", "file", s.path,
				"done", fmt.Sprintf("%d/%d fields", st.FieldsDone, st.Fields))
			return
		}
		if !failed {
			err := s.finishMigration(ctx)
			if err == nil {
				break
			}
			s.migrateFailed(fmt.Errorf("drop schema 1 tables: %w", err))
			s.log.Error("store migration: cannot drop the schema 1 tables; retrying", "err", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Info("store migration stopped by close; it resumes at the next open", "file", s.path)
			return
		case <-t.C:
		}
		delay = min(2*delay, maxMigrateRetry)
	}
	s.log.Info(fmt.Sprintf("migrated store to schema %d", SchemaVersion), "file", s.path, "readings", total, "took", time.Since(t0).Round(time.Millisecond))
}

// legacyOrder returns the fields not converted yet, by id. The caller
// holds mu.
func (s *Store) legacyOrder() []legacyField {
	out := make([]legacyField, 0, len(s.mig.legacy))
	for _, f := range s.mig.legacy {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b legacyField) int { return cmp.Compare(a.id, b.id) })
	return out
}

// migrateFailed records the last error of the migration.
func (s *Store) migrateFailed(err error) {
	s.mu.Lock()
	s.mig.Problem = err.Error()
	s.mu.Unlock()
}

// finishMigration drops the schema 1 tables, once every field is
// converted, and ends the migration.
func (s *Store) finishMigration(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range []string{"readings", "rollup_minute", "rollup_hour"} {
			if _, err := tx.Exec("DROP TABLE IF EXISTS " + t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.mig.Active, s.mig.legacy, s.mig.Problem = false, nil, ""
	s.mu.Unlock()
	return nil
}

// migrateSeries converts one field in one transaction and returns the
// count of its old readings converted.
func (s *Store) migrateSeries(ctx context.Context, f legacyField) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	id, name := f.id, f.name
	s.mu.Lock()
	typ := s.types[id]
	s.mu.Unlock()
	horizons := make([]int64, len(s.horizons))
	for i := range horizons {
		horizons[i] = math.MinInt64
	}
	// The write path's view of the field's tail goes stale here.
	clear(s.heads)
	defer clear(s.heads)
	var n int64
	progress := func(k int64) {
		s.mu.Lock()
		s.mig.cur = k
		s.mu.Unlock()
	}
	defer progress(0)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w := &writer{s: s, tx: tx}
		// Readings appended since the migration began.
		fresh, err := takeFresh(tx, id)
		if err != nil {
			return err
		}
		rows, err := tx.Query("SELECT ts, value FROM readings WHERE series_id = ? ORDER BY ts", id)
		if err != nil {
			return err
		}
		defer rows.Close()
		blk := &chunk.Block{}
		first := int64(math.MaxInt64)
		skipped := map[string]int{}
		from := int64(math.MinInt64) // fresh readings before from are written
		logged := time.Now()
		// flush writes blk merged with the fresh readings up to its end,
		// or all that are left.
		flush := func(last bool) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			to := int64(math.MaxInt64)
			if !last {
				if blk.Len() == 0 {
					return nil
				}
				to = blk.Times[blk.Len()-1] + 1
			}
			merged, _, err := mergeBlocks(blk, clip(fresh, from, to))
			if err != nil {
				return err
			}
			from, blk = to, &chunk.Block{}
			if merged.Len() == 0 {
				return nil
			}
			first = min(first, merged.Times[0])
			if err := w.series(id, name, merged); err != nil {
				return err
			}
			progress(n)
			if s.o.migrateHook != nil {
				s.o.migrateHook(ctx, name, n)
			}
			if time.Since(logged) >= migrateLogEvery {
				logged = time.Now()
				st := s.Migration()
				s.log.Info("migrating store", "field", name, "field_readings_so_far", n,
					"progress", fmt.Sprintf("%d/%d fields, %d/%d readings", st.FieldsDone, st.Fields, st.ReadingsDone, st.Readings))
			}
			return nil
		}
		for rows.Next() {
			var ts int64
			var v any
			if err := rows.Scan(&ts, &v); err != nil {
				return err
			}
			val := legacyValue(v)
			if val.Missing() {
				skipped["null"]++
				continue
			}
			if typ == "" {
				typ = val.Type
			}
			if val.Type != typ {
				skipped[val.Type]++
				continue
			}
			if _, err := appendValue(blk, val); err != nil {
				return err
			}
			blk.Times = append(blk.Times, ts)
			n++
			if blk.Len() == SealReadings {
				if err := flush(false); err != nil {
					return err
				}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if err := flush(true); err != nil {
			return err
		}
		if fresh.Len() > 0 {
			s.log.Info("migrating store: readings appended meanwhile merged", "field", name, "readings", fresh.Len())
		}
		for t, k := range skipped {
			s.log.Warn("migrating store: readings not carried over", "field", name, "value", t, "count", k,
				"why", "a missing value, or a value of another type than the field's "+typ)
		}
		if typ != "" {
			if _, err := tx.Exec("UPDATE series SET value_type = ? WHERE id = ? AND value_type = ''", typ, id); err != nil {
				return err
			}
		}
		// Cells older than the oldest reading.
		minuteFirst, err := carryCells(w, id, "rollup_minute", 1, first)
		if err != nil {
			return err
		}
		if minuteFirst != math.MaxInt64 {
			horizons[0] = max(horizons[0], first)
			horizons[1] = max(horizons[1], ceilTo(first, Tiers[0].Width))
		}
		hourFirst, err := carryCells(w, id, "rollup_hour", 3, min(first, minuteFirst))
		if err != nil {
			return err
		}
		if hourFirst != math.MaxInt64 {
			bound := min(first, minuteFirst)
			horizons[0] = max(horizons[0], bound)
			for ti := 0; ti < 3; ti++ {
				horizons[1+ti] = max(horizons[1+ti], ceilTo(bound, Tiers[ti].Width))
			}
		}
		if err := recordHorizons(tx, horizons); err != nil {
			return err
		}
		// The carried cells may begin before the oldest reading.
		if err := refreshFirst(tx, id); err != nil {
			return err
		}
		for _, t := range []string{"readings", "rollup_minute", "rollup_hour"} {
			if _, err := tx.Exec("DELETE FROM "+t+" WHERE series_id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.raiseHorizons(horizons)
	delete(s.mig.legacy, name)
	s.mig.FieldsDone++
	s.mig.ReadingsDone += n
	s.mu.Unlock()
	return n, nil
}

// takeFresh returns the readings of a field not converted yet that were
// appended since the migration began, and deletes them and their rollups
// in tx: the conversion writes them again, merged with the old rows.
func takeFresh(tx *sql.Tx, id int64) (*chunk.Block, error) {
	rows, err := tx.Query("SELECT start_ts, end_ts, data FROM chunks WHERE series_id = ? ORDER BY start_ts", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &chunk.Block{}
	for rows.Next() {
		var start, end int64
		var data []byte
		if err := rows.Scan(&start, &end, &data); err != nil {
			return nil, err
		}
		blk, err := chunk.Decode(data)
		if err != nil {
			return nil, chunkError(start, end, err)
		}
		if err := appendBlock(out, blk); err != nil {
			return nil, chunkError(start, end, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if out.Len() == 0 {
		return out, nil
	}
	for _, q := range []string{"DELETE FROM chunks WHERE series_id = ?", "DELETE FROM rollups WHERE series_id = ?",
		"UPDATE series SET first_ts = NULL, last_ts = NULL WHERE id = ?"} {
		if _, err := tx.Exec(q, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// carryCells copies the cells of a schema 1 rollup table whose buckets end
// at or before bound into tier ti and the coarser tiers, and returns the
// first bucket copied (MaxInt64 if none).
func carryCells(w *writer, id int64, table string, ti int, bound int64) (int64, error) {
	width := Tiers[ti].Width
	rows, err := w.tx.Query("SELECT bucket, cell FROM "+table+" WHERE series_id = ? AND bucket <= ? ORDER BY bucket", id, bound-width)
	if err != nil {
		return 0, err
	}
	var cells []bucketCell
	for rows.Next() {
		var b int64
		var blob []byte
		if err := rows.Scan(&b, &blob); err != nil {
			rows.Close()
			return 0, err
		}
		c, err := legacyCell(b, blob)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("%s at %s: %w", table, fmtTime(b), err)
		}
		cells = append(cells, bucketCell{b, c})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(cells) == 0 {
		return math.MaxInt64, nil
	}
	for k := ti; k < len(Tiers); k++ {
		if k > ti {
			cells = fold(cells, nil, Tiers[k].Width, false)
		}
		if err := w.updateTier(id, k, cells, nil, math.MinInt64); err != nil {
			return 0, err
		}
	}
	return cells[0].bucket, nil
}

// legacyValue reads a schema 1 value: REAL a number, INTEGER 0/1 a bool,
// TEXT a string, NULL missing.
func legacyValue(v any) protocol.Value {
	switch x := v.(type) {
	case float64:
		return protocol.Num(x)
	case int64:
		return protocol.Bool(x != 0)
	case []byte:
		return protocol.Str(string(x))
	case string:
		return protocol.Str(x)
	}
	return protocol.Value{}
}

var errBadCell = errors.New("malformed rollup cell")

// legacyCell decodes a schema 1 rollup cell: a flags byte (bit 0: the
// cell has numbers; bits 1-2: the type of the last value, 0 number, 1
// bool, 2 string; bit 3: a true last bool), uvarints count and nums,
// uvarints first and last time relative to the bucket, and with numbers
// float64 sum, min and max (little endian) and uvarints of their times;
// then the last value: 8 bytes for a number, the rest for a string.
func legacyCell(bucket int64, b []byte) (downsample.Cell, error) {
	var c downsample.Cell
	if len(b) == 0 {
		return c, errBadCell
	}
	flags := b[0]
	b = b[1:]
	var vals [4]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, errBadCell
		}
		vals[i], b = v, b[n:]
	}
	c.Count, c.Nums = int64(vals[0]), int64(vals[1])
	c.First, c.LastT = bucket+int64(vals[2]), bucket+int64(vals[3])
	c.NonNum = c.Count > c.Nums
	if flags&1 != 0 {
		if len(b) < 24 {
			return c, errBadCell
		}
		c.Sum = math.Float64frombits(binary.LittleEndian.Uint64(b))
		c.Min = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		c.Max = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
		b = b[24:]
		for _, p := range []*int64{&c.MinT, &c.MaxT} {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return c, errBadCell
			}
			*p, b = bucket+int64(v), b[n:]
		}
	}
	switch flags & (3 << 1) {
	case 0:
		if len(b) != 8 {
			return c, errBadCell
		}
		c.Last = protocol.Num(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case 1 << 1:
		c.Last = protocol.Bool(flags&(1<<3) != 0)
	case 2 << 1:
		c.Last = protocol.Str(string(b))
	default:
		return c, errBadCell
	}
	return c, nil
}
