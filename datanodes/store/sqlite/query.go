package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
	"golang.org/x/sync/errgroup"
)

// Reading: raw scans over chunks, and bucketed queries planned over the
// rollup tiers.
//
// No statement gets a cancellable context: go-sqlite3 would then hand
// every row to a goroutine. Queries check ctx between chunks and pages
// instead, which bounds the work after a cancel to one chunk.

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// field is a requested field the store has.
type field struct {
	name string
	id   int64
}

// resolve returns the requested fields the store has, once each, in the
// order asked.
func (s *Store) resolve(names []string) []field {
	var fields []field
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		if id, ok := s.ids[name]; ok && !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			fields = append(fields, field{name, id})
		}
	}
	return fields
}

// Query implements store.Store.
func (s *Store) Query(ctx context.Context, q store.Query) ([]protocol.Series, error) {
	agg, err := downsample.CheckQuery(q.Bucket, q.Agg, q.Limit)
	if err != nil {
		return nil, err
	}
	if err := s.sync(ctx, q.Fields, q.Start, q.End); err != nil {
		return nil, err
	}
	if q.End <= q.Start {
		return nil, nil
	}
	fields := s.resolve(q.Fields)
	if q.Bucket != 0 {
		return s.buckets(ctx, fields, agg, q)
	}
	var out []protocol.Series
	// One read transaction: the chunks a query lists are the ones it
	// reads, whatever the writer seals or rewrites meanwhile.
	err = s.snapshot(func(db querier) error {
		var err error
		out, err = s.raw(ctx, db, fields, q)
		return err
	})
	return out, err
}

// snapshot runs fn on one connection inside a read transaction, so that
// everything fn reads comes from one snapshot of the database (WAL keeps
// it while writers go on).
func (s *Store) snapshot(fn func(db querier) error) error {
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN DEFERRED"); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	// The snapshot starts at the first read, so one is made now, before
	// fn copies the horizons: Prune raises them before it commits, so
	// horizons read after the snapshot began are never older than what
	// it holds (newer ones only send a query to finer sources, which the
	// snapshot still has). Copied before it began, they could be the old
	// ones on a snapshot taken after Prune's commit, and send a query to
	// the pages it deleted: an empty answer.
	var n int
	if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM horizons").Scan(&n); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	return fn(conn)
}

// maxQueryWorkers bounds the fields one bucketed query plans at once.
const maxQueryWorkers = 4

// buckets answers a bucketed query through the planner. Fields are
// planned concurrently, by up to GOMAXPROCS workers (at most
// maxQueryWorkers), each in its own read transaction: a field's chunks
// and rollup pages are the ones its snapshot lists, whatever the writer
// seals or rewrites meanwhile.
func (s *Store) buckets(ctx context.Context, fields []field, agg string, q store.Query) ([]protocol.Series, error) {
	// Each Bucketer keeps at most the points under the limit, then only
	// counts, so an oversized answer costs bounded memory and still
	// reports its exact size.
	budget := math.MaxInt
	if q.Limit > 0 {
		budget = q.Limit
	}
	type answer struct {
		series protocol.Series
		points int
	}
	answers := make([]answer, len(fields))
	var next, total atomic.Int64
	var failed atomic.Bool
	work := func() (err error) {
		defer func() {
			if err != nil {
				failed.Store(true)
			}
		}()
		return s.snapshot(func(db querier) error {
			pages := getPages()
			defer putPages(pages)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(fields) || failed.Load() {
					return nil
				}
				f := fields[i]
				b := downsample.New(q.Bucket)
				b.Limit(agg, budget)
				if err := s.planner(ctx, db, pages, f.id, q).feed(b); err != nil {
					return fmt.Errorf("field %s: %w", f.name, err)
				}
				n := b.Points(agg)
				answers[i].points = n
				if total.Add(int64(n)) > int64(budget) {
					continue
				}
				times, values, err := b.Result(agg)
				if err != nil {
					return fmt.Errorf("field %s: %w", f.name, err)
				}
				answers[i].series = protocol.Series{Field: f.name, Times: times, Values: values}
			}
		})
	}
	workers := min(runtime.GOMAXPROCS(0), len(fields), maxQueryWorkers)
	var g errgroup.Group
	for range workers - 1 {
		g.Go(work)
	}
	err := work()
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	if err != nil {
		return nil, err
	}
	if points := total.Load(); points > int64(budget) {
		return nil, downsample.TooMuchData(int(points), q.Limit)
	}
	var out []protocol.Series
	for _, a := range answers {
		if a.series.Len() > 0 {
			out = append(out, a.series)
		}
	}
	return out, nil
}

// raw answers a query for readings.
func (s *Store) raw(ctx context.Context, db querier, fields []field, q store.Query) ([]protocol.Series, error) {
	if q.Limit > 0 {
		n, err := s.count(ctx, db, fields, q.Start, q.End)
		if err != nil {
			return nil, err
		}
		if n > q.Limit {
			return nil, downsample.TooMuchData(n, q.Limit)
		}
	}
	var out []protocol.Series
	for _, f := range fields {
		sr := protocol.Series{Field: f.name}
		err := scanChunks(ctx, db, f.id, q.Start, q.End, func(b *chunk.Block, _, _ int64) error {
			b = clip(b, q.Start, q.End)
			sr.Times = append(sr.Times, b.Times...)
			vs, err := valuesOf(b)
			if err == nil {
				err = appendValues(&sr.Values, vs)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		if len(sr.Times) > 0 {
			out = append(out, sr)
		}
	}
	return out, nil
}

// count returns how many readings fields have in [from, to), from the
// chunks' counts, decoding only the chunks the range cuts (at most two a
// field): an over-limit answer costs no scan of its readings.
func (s *Store) count(ctx context.Context, db querier, fields []field, from, to int64) (int, error) {
	total := 0
	for _, f := range fields {
		rows, err := db.QueryContext(context.WithoutCancel(ctx), chunkRange+" ORDER BY start_ts", f.id, from, to)
		if err != nil {
			return 0, fmt.Errorf("count readings: %w", err)
		}
		var cut []int64
		for rows.Next() {
			var id, start, end int64
			var n int
			if err := rows.Scan(&id, &start, &end, &n); err != nil {
				rows.Close()
				return 0, err
			}
			switch {
			case end < from:
			case start >= from && end < to:
				total += n
			default:
				cut = append(cut, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("count readings: %w", err)
		}
		for _, id := range cut {
			blk, err := readChunk(db, id)
			if err != nil {
				return 0, fmt.Errorf("field %s: %w", f.name, err)
			}
			lo, hi := within(blk.Times, from, to)
			total += hi - lo
		}
	}
	return total, nil
}

// chunkRange selects the chunks of series ?1 that may hold readings in
// [?2, ?3): the chunks never overlap, so those starting in the range and
// the last one starting before it.
const chunkRange = `SELECT id, start_ts, end_ts, n FROM chunks WHERE series_id = ?1 AND start_ts < ?3
	AND start_ts >= coalesce((SELECT max(start_ts) FROM chunks WHERE series_id = ?1 AND start_ts <= ?2), ?2)`

func readChunk(q querier, id int64) (*chunk.Block, error) {
	rows, err := q.QueryContext(context.Background(), "SELECT start_ts, end_ts, data FROM chunks WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("read chunk: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read chunk: %w", err)
		}
		return nil, fmt.Errorf("chunk %d vanished", id)
	}
	var start, end int64
	var data sql.RawBytes
	if err := rows.Scan(&start, &end, &data); err != nil {
		return nil, err
	}
	blk, err := chunk.Decode(data)
	if err != nil {
		return nil, chunkError(start, end, err)
	}
	return blk, nil
}

// within returns the index range of ts (ascending) inside [from, to).
func within(ts []int64, from, to int64) (int, int) {
	lo, _ := slices.BinarySearch(ts, from)
	hi, _ := slices.BinarySearch(ts, to)
	return lo, hi
}

// scanChunks calls fn with each chunk of a series that holds readings in
// [from, to), whole, with its time range, in time order.
func scanChunks(ctx context.Context, q querier, series, from, to int64, fn func(b *chunk.Block, start, end int64) error) error {
	if from >= to {
		return nil
	}
	rows, err := q.QueryContext(context.Background(), `SELECT start_ts, end_ts, data FROM chunks WHERE series_id = ?1 AND start_ts < ?3
		AND start_ts >= coalesce((SELECT max(start_ts) FROM chunks WHERE series_id = ?1 AND start_ts <= ?2), ?2)
		ORDER BY start_ts`, series, from, to)
	if err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var start, end int64
		var data sql.RawBytes
		if err := rows.Scan(&start, &end, &data); err != nil {
			return err
		}
		if end < from {
			continue
		}
		blk, err := chunk.Decode(data)
		if err != nil {
			return chunkError(start, end, err)
		}
		if err := fn(blk, start, end); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan readings: %w", err)
	}
	return nil
}
