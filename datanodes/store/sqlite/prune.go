package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/protocol/downsample"
)

// Retention: old raw readings and rollup rows are deleted per tier.

func (s *Store) prune(now time.Time) {
	if err := s.Prune(context.Background(), now); err != nil {
		s.log.Error("prune store", "err", err)
	}
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
