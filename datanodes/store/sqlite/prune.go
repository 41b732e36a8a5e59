package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Retention: old readings and rollup cells are deleted per source, and
// each source's horizon, the time from which it is complete, recorded
// for the planner.

func (s *Store) prune(now time.Time) {
	if err := s.Prune(context.Background(), now); err != nil {
		s.log.Error("prune store", "err", err)
	}
}

// loadHorizons reads the sources' horizons.
func (s *Store) loadHorizons(ctx context.Context) error {
	for i := range s.horizons {
		s.horizons[i] = math.MinInt64
	}
	rows, err := s.db.QueryContext(ctx, "SELECT source, from_ts FROM horizons")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var src int
		var from int64
		if err := rows.Scan(&src, &from); err != nil {
			return err
		}
		if src >= 0 && src < len(s.horizons) {
			s.horizons[src] = from
		}
	}
	return rows.Err()
}

// Prune applies the retention of readings and of each tier relative to
// now: readings before now minus the raw retention go, and a tier's cells
// whose bucket starts before now minus its retention, rounded up to its
// width.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	ds := s.o.Retention.durations()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cutoffs := make([]int64, len(ds))
	any := false
	for i, d := range ds {
		cutoffs[i] = math.MinInt64
		if d > 0 {
			c := now.Add(-d).UnixNano()
			if i > 0 {
				c = ceilTo(c, Tiers[i-1].Width)
			}
			cutoffs[i], any = c, true
		}
	}
	if !any {
		return nil
	}
	var deleted int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids, err := seriesIDs(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			n, err := pruneChunks(tx, id, cutoffs[0])
			if err != nil {
				return err
			}
			deleted += n
			for ti := range Tiers {
				n, err := prunePages(tx, id, ti, cutoffs[1+ti])
				if err != nil {
					return err
				}
				deleted += n
			}
			if err := refreshFirst(tx, id); err != nil {
				return err
			}
		}
		if err := recordHorizons(tx, cutoffs); err != nil {
			return err
		}
		// Raised before the commit: a query that planned on the old
		// horizons would read the sources pruned and answer without
		// their readings. One planned on the new ones before the commit
		// reads what the pruned state would.
		s.mu.Lock()
		s.raiseHorizons(cutoffs)
		s.mu.Unlock()
		return nil
	})
	if s.o.pruneHook != nil {
		s.o.pruneHook()
	}
	if err != nil {
		return err
	}
	clear(s.heads)
	s.log.Debug("pruned store", "readings and cells", deleted)
	return nil
}

// recordHorizons raises the stored horizon of each source to hs[source]
// (math.MinInt64: unchanged).
func recordHorizons(tx *sql.Tx, hs []int64) error {
	for src, h := range hs {
		if h == math.MinInt64 {
			continue
		}
		if _, err := tx.Exec(`INSERT INTO horizons (source, from_ts) VALUES (?, ?)
			ON CONFLICT (source) DO UPDATE SET from_ts = max(from_ts, excluded.from_ts)`, src, h); err != nil {
			return fmt.Errorf("record horizon: %w", err)
		}
	}
	return nil
}

// raiseHorizons raises the horizons in memory as recordHorizons did in
// the database. The caller holds mu.
func (s *Store) raiseHorizons(hs []int64) {
	for src, h := range hs {
		s.horizons[src] = max(s.horizons[src], h)
	}
}

func seriesIDs(tx *sql.Tx) ([]int64, error) {
	rows, err := tx.Query("SELECT id FROM series")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// pruneChunks deletes a series' readings before cutoff.
func pruneChunks(tx *sql.Tx, id, cutoff int64) (int64, error) {
	if cutoff == math.MinInt64 {
		return 0, nil
	}
	res, err := tx.Exec("DELETE FROM chunks WHERE series_id = ? AND end_ts < ?", id, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune readings: %w", err)
	}
	n, _ := res.RowsAffected()
	// The chunk the cutoff cuts keeps its newer readings.
	var cid, start, end int64
	var sealed bool
	var data []byte
	err = tx.QueryRow("SELECT id, start_ts, end_ts, sealed, data FROM chunks WHERE series_id = ? AND start_ts < ? AND end_ts >= ?", id, cutoff, cutoff).
		Scan(&cid, &start, &end, &sealed, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("prune readings: %w", err)
	}
	blk, err := chunk.Decode(data)
	if err != nil {
		return n, chunkError(start, end, err)
	}
	kept := clip(blk, cutoff, math.MaxInt64)
	enc, err := chunk.Encode(nil, kept, chunk.Options{Fast: !sealed})
	if err != nil {
		return n, err
	}
	if _, err := tx.Exec("UPDATE chunks SET start_ts = ?, n = ?, data = ? WHERE id = ?", kept.Times[0], kept.Len(), enc, cid); err != nil {
		return n, fmt.Errorf("prune readings: %w", err)
	}
	return n, nil
}

// prunePages deletes a series' cells of tier ti whose buckets start
// before cutoff (a multiple of the tier's width).
func prunePages(tx *sql.Tx, id int64, ti int, cutoff int64) (int64, error) {
	if cutoff == math.MinInt64 {
		return 0, nil
	}
	t := Tiers[ti]
	first := pageOf(cutoff, t)
	res, err := tx.Exec("DELETE FROM rollups WHERE series_id = ? AND tier = ? AND page < ?", id, ti, first)
	if err != nil {
		return 0, fmt.Errorf("prune %s rollups: %w", t.Name, err)
	}
	n, _ := res.RowsAffected()
	var data []byte
	err = tx.QueryRow("SELECT data FROM rollups WHERE series_id = ? AND tier = ? AND page = ?", id, ti, first).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return n, nil
	case err != nil:
		return n, err
	}
	cells, err := decodePage(data)
	if err != nil {
		return n, pageError(t, first, err)
	}
	k := 0
	for k < len(cells) && cells[k].bucket < cutoff {
		k++
	}
	if k == 0 {
		return n, nil
	}
	if k == len(cells) {
		_, err = tx.Exec("DELETE FROM rollups WHERE series_id = ? AND tier = ? AND page = ?", id, ti, first)
		return n + 1, err
	}
	enc, err := encodePage(cells[k:], chunk.Options{})
	if err != nil {
		return n, err
	}
	_, err = tx.Exec("UPDATE rollups SET data = ? WHERE series_id = ? AND tier = ? AND page = ?", enc, id, ti, first)
	return n, err
}

// refreshFirst recomputes a series' first reading time from what the
// readings and the tiers still hold.
func refreshFirst(tx *sql.Tx, id int64) error {
	first := int64(math.MaxInt64)
	var f sql.NullInt64
	if err := tx.QueryRow("SELECT min(start_ts) FROM chunks WHERE series_id = ?", id).Scan(&f); err != nil {
		return fmt.Errorf("refresh series span: %w", err)
	}
	if f.Valid {
		first = f.Int64
	}
	for ti, t := range Tiers {
		var page int64
		var data []byte
		err := tx.QueryRow("SELECT page, data FROM rollups WHERE series_id = ? AND tier = ? ORDER BY page LIMIT 1", id, ti).Scan(&page, &data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("refresh series span: %w", err)
		}
		cells, err := decodePage(data)
		if err != nil {
			return pageError(t, page, err)
		}
		if len(cells) > 0 {
			first = min(first, cells[0].cell.First)
		}
	}
	var err error
	if first != math.MaxInt64 {
		_, err = tx.Exec("UPDATE series SET first_ts = ? WHERE id = ?", first, id)
	} else {
		_, err = tx.Exec("UPDATE series SET first_ts = NULL, last_ts = NULL WHERE id = ?", id)
	}
	if err != nil {
		return fmt.Errorf("refresh series span: %w", err)
	}
	return nil
}

var _ = downsample.Start
