package sqlite

import (
	"context"
	"fmt"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
)

var _ store.Scanner = (*Store)(nil)

// Scan implements store.Scanner. Each Next reads and decodes chunks of the
// current field until the slice is full; no statement stays open between
// calls, so a slow consumer holds no connection.
func (s *Store) Scan(ctx context.Context, q store.Query, slice int) store.SeriesIterator {
	it := &scanIter{s: s, ctx: ctx, q: q, slice: max(slice, 1)}
	switch {
	case q.Bucket != 0:
		it.err = protocol.Errorf(protocol.InvalidArgument, "Scan of a bucketed query")
	case q.End > q.Start:
		if it.err = s.sync(ctx, q.Fields, q.Start, q.End); it.err == nil {
			it.fields = s.resolve(q.Fields)
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

	// the field being read: its chunks left, and the rest of the last
	// chunk decoded
	ids  []int64
	rest *chunk.Block
	open bool
}

func (it *scanIter) Next() bool {
	if it.err != nil {
		return false
	}
	for len(it.fields) > 0 {
		f := it.fields[0]
		if !it.open {
			if it.ids, it.err = it.s.chunkIDs(f.id, it.q.Start, it.q.End); it.err != nil {
				return false
			}
			it.open, it.rest = true, nil
		}
		sr := protocol.Series{Field: f.name}
		for sr.Len() < it.slice {
			if it.rest == nil || it.rest.Len() == 0 {
				if len(it.ids) == 0 {
					break
				}
				if err := it.ctx.Err(); err != nil {
					it.err = err
					return false
				}
				blk, err := readChunk(it.s.db, it.ids[0])
				if err != nil {
					it.err = fmt.Errorf("field %s: %w", f.name, err)
					return false
				}
				it.ids = it.ids[1:]
				it.rest = clip(blk, it.q.Start, it.q.End)
				continue
			}
			k := min(it.rest.Len(), it.slice-sr.Len())
			part := sliceBlock(it.rest, 0, k)
			it.rest = sliceBlock(it.rest, k, it.rest.Len())
			vs, err := valuesOf(part)
			if err == nil {
				err = appendValues(&sr.Values, vs)
			}
			if err != nil {
				it.err = fmt.Errorf("field %s: %w", f.name, err)
				return false
			}
			sr.Times = append(sr.Times, part.Times...)
		}
		if sr.Len() > 0 {
			it.cur = sr
			return true
		}
		it.fields, it.open = it.fields[1:], false
	}
	return false
}

func (it *scanIter) At() protocol.Series { return it.cur }
func (it *scanIter) Err() error          { return it.err }
func (it *scanIter) Close() error        { it.fields, it.ids, it.rest = nil, nil, nil; return nil }

// chunkIDs returns the ids of a series' chunks that may hold readings in
// [from, to), in time order.
func (s *Store) chunkIDs(series, from, to int64) ([]int64, error) {
	rows, err := s.db.QueryContext(context.Background(), chunkRange+" ORDER BY start_ts", series, from, to)
	if err != nil {
		return nil, fmt.Errorf("scan readings: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id, start, end int64
		var n int
		if err := rows.Scan(&id, &start, &end, &n); err != nil {
			return nil, err
		}
		if end >= from {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}
