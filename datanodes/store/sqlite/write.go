package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Writing: buffered readings are committed in batches, with the rollup
// tiers kept up to date in the same transaction.

// row is one buffered reading.
type row struct {
	Field string
	Time  int64
	Value protocol.Value
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, batch []protocol.Series) error {
	if err := store.CheckAppend(batch); err != nil {
		return err
	}
	var rs []row
	for _, sr := range batch {
		for i, t := range sr.Times {
			rs = append(rs, row{sr.Field, t, sr.Values.At(i)})
		}
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
func (s *Store) write(ctx context.Context, batch []row) error {
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
			if id, err = s.seriesID(ctx, tx, r.Field, r.Value.Type, newIDs); err != nil {
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
func sortBatch(batch []row) []row {
	groups := map[string][]row{}
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
	out := make([]row, 0, len(batch))
	for _, name := range names {
		g := groups[name]
		if !slices.IsSortedFunc(g, func(a, b row) int { return cmp.Compare(a.Time, b.Time) }) {
			slices.SortStableFunc(g, func(a, b row) int { return cmp.Compare(a.Time, b.Time) })
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
func (s *Store) seriesID(ctx context.Context, tx *sql.Tx, name, typ string, created map[string]int64) (int64, error) {
	s.mu.Lock()
	id, ok := s.ids[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO series (name, value_type) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, typ); err != nil {
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
	err := scanRaw(ctx, q, series, from, to, func(t int64, v protocol.Value) { c.Add(t, v) })
	return c, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanRaw calls fn for each reading of a series in [from, to), in time order.
func scanRaw(ctx context.Context, q querier, series, from, to int64, fn func(t int64, v protocol.Value)) error {
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
func toSQL(v protocol.Value) any {
	switch v.Type {
	case protocol.TypeBool:
		if v.Bool {
			return int64(1)
		}
		return int64(0)
	case protocol.TypeString:
		return v.Str
	}
	return v.Num
}

// fromSQL undoes toSQL; NULL is a missing number.
func fromSQL(v any) protocol.Value {
	switch x := v.(type) {
	case int64:
		return protocol.Bool(x != 0)
	case []byte:
		return protocol.Str(string(x))
	case string:
		return protocol.Str(x)
	case float64:
		return protocol.Num(x)
	}
	return protocol.Num(math.NaN())
}
