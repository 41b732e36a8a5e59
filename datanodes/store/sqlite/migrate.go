package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Migration from schema 1: one row per reading in a readings table, and
// rollup_minute and rollup_hour tables of one encoded cell per row.
//
// Each field is converted in its own transaction, which writes its chunks
// and rollup pages and deletes its old rows, so a migration interrupted
// by a crash resumes with the fields it had not finished. Rollup cells of
// buckets older than the field's oldest reading (readings removed by raw
// retention) are carried over into the minute and hour tiers and the
// coarser ones, so nothing the old store could answer is lost. The old
// tables are dropped at the end; SQLite reuses their pages.

// migrate converts the schema 1 tables. The caller has created the
// schema 2 tables.
func (s *Store) migrate(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var total int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM readings").Scan(&total); err != nil {
		return err
	}
	ids, names, err := s.legacySeries(ctx)
	if err != nil {
		return err
	}
	s.log.Info(fmt.Sprintf("migrating store to schema %d", SchemaVersion), "file", s.path, "fields", len(ids), "readings", total)
	t0 := time.Now()
	var done int64
	horizons := make([]int64, len(s.horizons))
	for i := range horizons {
		horizons[i] = math.MinInt64
	}
	for i, id := range ids {
		n, hz, err := s.migrateSeries(ctx, id, names[i])
		if err != nil {
			return fmt.Errorf("field %s: %w", names[i], err)
		}
		for k, h := range hz {
			horizons[k] = max(horizons[k], h)
		}
		done += n
		s.log.Info("migrating store", "field", names[i], "field_readings", n, "done", fmt.Sprintf("%d/%d fields, %d/%d readings", i+1, len(ids), done, total))
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for src, h := range horizons {
			if h == math.MinInt64 {
				continue
			}
			if _, err := tx.Exec(`INSERT INTO horizons (source, from_ts) VALUES (?, ?)
				ON CONFLICT (source) DO UPDATE SET from_ts = max(from_ts, excluded.from_ts)`, src, h); err != nil {
				return err
			}
		}
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
	if err := s.loadHorizons(ctx); err != nil {
		return err
	}
	clear(s.heads)
	s.log.Info(fmt.Sprintf("migrated store to schema %d", SchemaVersion), "file", s.path, "readings", done, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// legacySeries lists the series that still have schema 1 rows.
func (s *Store) legacySeries(ctx context.Context) ([]int64, []string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM series WHERE id IN (SELECT DISTINCT series_id FROM readings)
		OR id IN (SELECT series_id FROM rollup_minute) OR id IN (SELECT series_id FROM rollup_hour) ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids []int64
	var names []string
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, nil, err
		}
		ids, names = append(ids, id), append(names, name)
	}
	return ids, names, rows.Err()
}

// migrateSeries converts one field in one transaction and returns its
// reading count and the horizons its carried-over cells imply.
func (s *Store) migrateSeries(ctx context.Context, id int64, name string) (int64, []int64, error) {
	s.mu.Lock()
	typ := s.types[id]
	s.mu.Unlock()
	horizons := make([]int64, len(s.horizons))
	for i := range horizons {
		horizons[i] = math.MinInt64
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w := &writer{s: s, tx: tx}
		rows, err := tx.Query("SELECT ts, value FROM readings WHERE series_id = ? ORDER BY ts", id)
		if err != nil {
			return err
		}
		defer rows.Close()
		blk := &chunk.Block{}
		first := int64(math.MaxInt64)
		skipped := map[string]int{}
		flush := func() error {
			if blk.Len() == 0 {
				return nil
			}
			err := w.series(id, name, blk)
			blk = &chunk.Block{}
			return err
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
			first = min(first, ts)
			if _, err := appendValue(blk, val); err != nil {
				return err
			}
			blk.Times = append(blk.Times, ts)
			n++
			if blk.Len() == SealReadings {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if err := flush(); err != nil {
			return err
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
		for _, t := range []string{"readings", "rollup_minute", "rollup_hour"} {
			if _, err := tx.Exec("DELETE FROM "+t+" WHERE series_id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
	clear(s.heads)
	return n, horizons, err
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
