package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
)

var _ store.Scanner = (*Store)(nil)

// Scan implements store.Scanner. Each Next reads the current field's
// chunks from where the last slice ended, with one statement closed before
// Next returns, so a slow consumer holds no connection and no snapshot;
// the readings of one slice come from one snapshot, and a chunk the
// writer rewrites between two slices is read as it is then, from the time
// reached, so nothing is returned twice or skipped. The context is
// checked between chunks: cancelling stops the scan within one chunk,
// without go-sqlite3's per-row goroutine of a cancellable statement.
func (s *Store) Scan(ctx context.Context, q store.Query, slice int) store.SeriesIterator {
	it := &scanIter{s: s, ctx: ctx, q: q, slice: max(slice, 1)}
	switch {
	case q.Bucket != 0:
		it.err = protocol.Errorf(protocol.InvalidArgument, "Scan of a bucketed query")
	case q.End > q.Start:
		if it.err = s.sync(ctx, q.Fields, q.Start, q.End); it.err == nil {
			it.fields = s.resolve(q.Fields)
			it.pos = q.Start
		}
	}
	return it
}

type scanIter struct {
	s      *Store
	ctx    context.Context
	q      store.Query
	slice  int
	fields []field
	err    error
	cur    protocol.Series

	// pos is the time from which the current field is still to be read;
	// rest holds the readings of the last chunk decoded not returned yet
	// (all at or after pos), in blk's memory.
	pos  int64
	rest *chunk.Block
	blk  chunk.Block
	bufs chunk.Buffers
}

func (it *scanIter) Next() bool {
	for it.err == nil && len(it.fields) > 0 {
		f := it.fields[0]
		sr := protocol.Series{Field: f.name}
		if err := it.fill(f, &sr); err != nil {
			it.err = fmt.Errorf("field %s: %w", f.name, err)
			return false
		}
		if sr.Len() > 0 {
			it.cur = sr
			return true
		}
		it.fields, it.pos, it.rest = it.fields[1:], it.q.Start, nil
	}
	return false
}

// fill appends to sr up to slice readings of f from pos on.
func (it *scanIter) fill(f field, sr *protocol.Series) error {
	if full, err := it.take(sr); full || err != nil {
		return err
	}
	if it.pos >= it.q.End {
		return nil
	}
	rows, err := it.s.db.QueryContext(context.Background(), `SELECT start_ts, end_ts, data FROM chunks WHERE series_id = ?1 AND start_ts < ?3
		AND start_ts >= coalesce((SELECT max(start_ts) FROM chunks WHERE series_id = ?1 AND start_ts <= ?2), ?2)
		ORDER BY start_ts`, f.id, it.pos, it.q.End)
	if err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := it.ctx.Err(); err != nil {
			return err
		}
		var start, end int64
		var data sql.RawBytes
		if err := rows.Scan(&start, &end, &data); err != nil {
			return err
		}
		if end < it.pos {
			continue
		}
		if err := it.bufs.DecodeInto(&it.blk, data); err != nil {
			return chunkError(start, end, err)
		}
		it.rest = clip(&it.blk, it.pos, it.q.End)
		if full, err := it.take(sr); full || err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	it.pos = it.q.End // the field is read
	return nil
}

// take moves readings from rest to sr, copying them, and reports whether
// sr is full.
func (it *scanIter) take(sr *protocol.Series) (bool, error) {
	if k := min(it.restLen(), it.slice-sr.Len()); k > 0 {
		part := sliceBlock(it.rest, 0, k)
		it.rest = sliceBlock(it.rest, k, it.rest.Len())
		it.pos = part.Times[k-1] + 1
		sr.Times = append(sr.Times, part.Times...)
		if err := appendBlockValues(&sr.Values, part); err != nil {
			return true, err
		}
	}
	return sr.Len() >= it.slice, nil
}

func (it *scanIter) restLen() int {
	if it.rest == nil {
		return 0
	}
	return it.rest.Len()
}

// appendBlockValues appends the values of a one-kind block to dst, in
// dst's own memory.
func appendBlockValues(dst *protocol.Values, b *chunk.Block) error {
	vs, err := valuesOf(b)
	if err != nil {
		return err
	}
	if dst.Type != "" && dst.Type != vs.Type {
		return fmt.Errorf("values of type %s after %s", vs.Type, dst.Type)
	}
	dst.Type = vs.Type
	dst.Nums = append(dst.Nums, vs.Nums...)
	dst.Strs = append(dst.Strs, vs.Strs...)
	dst.Bools = append(dst.Bools, vs.Bools...)
	return nil
}

func (it *scanIter) At() protocol.Series { return it.cur }
func (it *scanIter) Err() error          { return it.err }
func (it *scanIter) Close() error        { it.fields, it.rest = nil, nil; return nil }
