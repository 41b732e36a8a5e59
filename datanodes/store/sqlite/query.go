package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Reading: raw scans, and bucketed queries served from the coarsest rollup
// tier that gives exact results.

// Query implements store.Store.
func (s *Store) Query(ctx context.Context, q store.Query) ([]protocol.Series, error) {
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

	var out []protocol.Series
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
			sr := protocol.Series{Field: f.name}
			var mixed error
			err := scanRaw(ctx, s.db, f.id, q.Start, q.End, func(t int64, v protocol.Value) {
				if mixed == nil {
					mixed = sr.Values.Append(v)
				}
				sr.Times = append(sr.Times, t)
			})
			if err == nil && mixed != nil {
				err = fmt.Errorf("field %s: %w", f.name, mixed)
			}
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
		times, values, err := b.Result(agg)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		if len(times) > 0 {
			out = append(out, protocol.Series{Field: f.name, Times: times, Values: values})
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
	add := func(t int64, v protocol.Value) { b.Add(t, v) }
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

	add := func(t int64, v protocol.Value) { b.Add(t, v) }
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
