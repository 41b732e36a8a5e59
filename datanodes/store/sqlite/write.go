package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Writing: buffered readings are committed in batches, into the chunks of
// each field and the rollup pages they touch, in one transaction.

// Chunk sizes, in readings.
const (
	// SealReadings is the size of a sealed chunk: about 7 KB of the bench
	// data's sensor fields, where zstd has enough to work on.
	SealReadings = 8192
	// headReadings bounds a write-head chunk, which each flush rewrites.
	headReadings = 1024
)

// Append implements store.Store. While flushes fail, it only buffers
// (and spills, see makeRoom): the caller never waits on a failing write.
func (s *Store) Append(ctx context.Context, batch []protocol.Series) error {
	if err := store.CheckAppend(batch); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	incoming := 0
	for _, sr := range batch {
		incoming += len(sr.Times)
	}
	s.mu.Lock()
	if err := s.checkOpen(); err != nil {
		s.mu.Unlock()
		return err
	}
	for _, sr := range batch {
		if len(sr.Times) == 0 {
			continue
		}
		if err := s.checkType(sr.Field, sr.Values.Type); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if s.buf.n > 0 && s.buf.n+incoming > s.o.MaxBuffered {
		s.mu.Unlock()
		if err := s.makeRoom(ctx); err != nil {
			return s.drop(batch, incoming, err)
		}
		s.mu.Lock()
	}
	if s.buf.n == 0 {
		s.bufSince = time.Now()
	}
	for _, sr := range batch {
		if len(sr.Times) == 0 {
			continue
		}
		s.btypes[sr.Field] = sr.Values.Type
		s.buf.add(sr)
	}
	n, failing := s.buf.n, s.fail.err != nil
	s.mu.Unlock()
	switch {
	case failing:
	case n >= 20*s.o.FlushRows:
		// The flusher is falling behind: make the caller wait. A failure
		// keeps the readings buffered, and is reported by the store.
		_ = s.Flush(ctx)
	case n >= s.o.FlushRows:
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// checkType refuses values of another type than the field holds or has
// buffered. The caller holds mu.
func (s *Store) checkType(field, typ string) error {
	have := s.btypes[field]
	if id, ok := s.ids[field]; ok && s.types[id] != "" {
		have = s.types[id]
	}
	if have != "" && have != typ {
		return protocol.Errorf(protocol.InvalidArgument, "field %s holds %s values, not %s", field, have, typ)
	}
	return nil
}

// pending reports whether readings wait for a flush: buffered, in a
// flush in progress or in spill files.
func (s *Store) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.n > 0 || len(s.out) > 0 || len(s.spills) > 0
}

// Flush implements store.Store: it writes the spill files, oldest first,
// then the buffer. A failed flush keeps every reading for the next
// attempt and puts the store in its failing state (see failure).
func (s *Store) Flush(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writeSpills(ctx); err != nil {
		return s.failed(err)
	}
	batch, since := s.takeBuffer()
	if batch.n == 0 {
		s.recovered()
		return ctx.Err()
	}
	began := time.Now()
	err := s.write(ctx, batch.series)
	done := time.Now()
	s.mu.Lock()
	s.release(batch, since, err != nil)
	if err == nil {
		s.ws.FlushMax = max(s.ws.FlushMax, done.Sub(began))
		s.ws.LagMax = max(s.ws.LagMax, done.Sub(since))
	}
	s.mu.Unlock()
	if err != nil {
		// What the write path knew of each field's tail may be stale.
		clear(s.heads)
		return s.failed(fmt.Errorf("flush %d readings: %w", batch.n, err))
	}
	s.recovered()
	return nil
}

// takeBuffer takes the buffer for a flush or spill; its readings stay
// visible to queries in out until release.
func (s *Store) takeBuffer() (*buffer, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, since := s.buf.take(), s.bufSince
	if b.n > 0 {
		s.out = append(s.out, b)
	}
	return b, since
}

// release ends the flush or spill of b; if it failed, the readings go
// back before any appended since, for the next attempt. No query sees
// them missing meanwhile. The caller holds mu.
func (s *Store) release(b *buffer, since time.Time, failed bool) {
	s.out = slices.DeleteFunc(s.out, func(o *buffer) bool { return o == b })
	if failed {
		b.addAll(s.buf)
		s.buf, s.bufSince = b, since
	}
}

// group merges a batch into one sorted block per field, the later of two
// readings at one time winning, and returns the fields in name order.
func group(batch []protocol.Series) ([]string, map[string]*chunk.Block, map[string]string) {
	blocks := map[string]*chunk.Block{}
	types := map[string]string{}
	sizes := map[string]int{}
	for _, sr := range batch {
		sizes[sr.Field] += len(sr.Times)
	}
	for _, sr := range batch {
		b := blocks[sr.Field]
		if b == nil {
			b = newBlock(sr.Values.Type, sizes[sr.Field])
			blocks[sr.Field] = b
			types[sr.Field] = sr.Values.Type
		}
		_ = appendBlock(b, blockOf(sr.Times, sr.Values)) // one type per field: checked by Append
	}
	names := make([]string, 0, len(blocks))
	for name, b := range blocks {
		blocks[name] = sortBlock(b)
		names = append(names, name)
	}
	slices.Sort(names)
	return names, blocks, types
}

// write commits a batch.
func (s *Store) write(ctx context.Context, batch []protocol.Series) error {
	names, blocks, types := group(batch)
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &writer{s: s, tx: tx}
	newIDs := map[string]int64{}
	newTypes := map[int64]string{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, err := s.seriesID(tx, name, types[name], newIDs, newTypes)
		if err != nil {
			return err
		}
		if err := w.series(id, name, blocks[name]); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	if s.fault != nil {
		if err := s.fault(); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.remember(newIDs, newTypes)
	return nil
}

// seriesID returns the id of a field, creating its series row in tx, and
// records its value type if it had none.
func (s *Store) seriesID(tx *sql.Tx, name, typ string, created map[string]int64, types map[int64]string) (int64, error) {
	s.mu.Lock()
	id, ok := s.ids[name]
	have := s.types[id]
	s.mu.Unlock()
	if ok && have != "" {
		return id, nil
	}
	if !ok {
		if _, err := tx.Exec("INSERT INTO series (name, value_type) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, typ); err != nil {
			return 0, fmt.Errorf("create series: %w", err)
		}
		if err := tx.QueryRow("SELECT id FROM series WHERE name = ?", name).Scan(&id); err != nil {
			return 0, fmt.Errorf("create series: %w", err)
		}
		created[name] = id
	}
	if _, err := tx.Exec("UPDATE series SET value_type = ? WHERE id = ? AND value_type = ''", typ, id); err != nil {
		return 0, fmt.Errorf("set series type: %w", err)
	}
	types[id] = typ
	return id, nil
}

// head is what the write path knows of a field's tail.
type head struct {
	lastEnd      int64 // time of the field's newest reading; MinInt64 if none
	unsealedFrom int64 // start of its first unsealed chunk; MaxInt64 if none
	unsealedN    int   // readings in unsealed chunks
	last         chunkRow
	hasLast      bool
}

// chunkRow is a chunk's row without its data.
type chunkRow struct {
	id, start, end int64
	n              int
	sealed         bool
}

// writer writes one batch in one transaction.
type writer struct {
	s  *Store
	tx *sql.Tx
}

func (w *writer) head(id int64) (*head, error) {
	if h := w.s.heads[id]; h != nil {
		return h, nil
	}
	h := &head{lastEnd: math.MinInt64, unsealedFrom: math.MaxInt64}
	var r chunkRow
	err := w.tx.QueryRow("SELECT id, start_ts, end_ts, n, sealed FROM chunks WHERE series_id = ? ORDER BY start_ts DESC LIMIT 1", id).
		Scan(&r.id, &r.start, &r.end, &r.n, &r.sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read write head: %w", err)
	default:
		h.last, h.hasLast, h.lastEnd = r, true, r.end
	}
	var from sql.NullInt64
	if err := w.tx.QueryRow("SELECT min(start_ts), coalesce(sum(n), 0) FROM chunks WHERE series_id = ? AND sealed = 0", id).Scan(&from, &h.unsealedN); err != nil {
		return nil, fmt.Errorf("read write head: %w", err)
	}
	if from.Valid {
		h.unsealedFrom = from.Int64
	}
	w.s.heads[id] = h
	return h, nil
}

// series writes the sorted readings nw of one field and updates its
// rollups and span.
func (w *writer) series(id int64, name string, nw *chunk.Block) error {
	if nw.Len() == 0 {
		return nil
	}
	h, err := w.head(id)
	if err != nil {
		return err
	}
	var replaced []int64
	if nw.Times[0] > h.lastEnd {
		err = w.appendTail(id, h, nw)
	} else {
		replaced, err = w.rewrite(id, h, nw)
	}
	if err != nil {
		return err
	}
	if h.unsealedN >= SealReadings {
		if err := w.seal(id, h, nil); err != nil {
			return err
		}
	}
	if err := w.rollups(id, name, nw, replaced, h.lastEnd); err != nil {
		return err
	}
	_, err = w.tx.Exec(`UPDATE series SET
		first_ts = CASE WHEN first_ts IS NULL OR ?1 < first_ts THEN ?1 ELSE first_ts END,
		last_ts = CASE WHEN last_ts IS NULL OR ?2 > last_ts THEN ?2 ELSE last_ts END
		WHERE id = ?3`, nw.Times[0], nw.Times[nw.Len()-1], id)
	if err != nil {
		return fmt.Errorf("update series span: %w", err)
	}
	return nil
}

// appendTail adds readings newer than all the field has to its write head.
func (w *writer) appendTail(id int64, h *head, nw *chunk.Block) error {
	if h.unsealedN+nw.Len() >= SealReadings {
		// Seal with the new readings as they are, rather than write them
		// to the head and read them back.
		return w.seal(id, h, nw)
	}
	tail := nw
	if h.hasLast && !h.last.sealed && h.last.n < headReadings {
		old, err := w.readChunk(h.last.id)
		if err != nil {
			return err
		}
		if err := appendBlock(old, nw); err != nil {
			return err
		}
		tail = old
		if err := w.deleteChunk(h.last.id); err != nil {
			return err
		}
		h.unsealedN -= h.last.n
		h.hasLast = false
	}
	if err := w.writeHead(id, h, tail); err != nil {
		return err
	}
	h.lastEnd = h.last.end
	return nil
}

// writeHead writes b as unsealed chunks of at most headReadings after the
// field's other chunks, and notes them in h.
func (w *writer) writeHead(id int64, h *head, b *chunk.Block) error {
	for _, p := range cut(b, headReadings) {
		r, err := w.insertChunk(id, p, false)
		if err != nil {
			return err
		}
		h.unsealedFrom = min(h.unsealedFrom, r.start)
		h.unsealedN += r.n
		h.last, h.hasLast = r, true
	}
	return nil
}

// rewrite merges readings that are not all newer than the field's into
// the chunks they overlap, and returns the times of replaced readings.
func (w *writer) rewrite(id int64, h *head, nw *chunk.Block) ([]int64, error) {
	lo, hi := nw.Times[0], nw.Times[nw.Len()-1]
	merged, ids, err := w.readChunks("SELECT id, start_ts, end_ts, data FROM chunks WHERE series_id = ? AND start_ts <= ? AND end_ts >= ? ORDER BY start_ts", id, hi, lo)
	if err != nil {
		return nil, err
	}
	out, replaced, err := mergeBlocks(merged, nw)
	if err != nil {
		return nil, err
	}
	for _, cid := range ids {
		if err := w.deleteChunk(cid); err != nil {
			return nil, err
		}
	}
	for _, p := range cut(out, SealReadings) {
		if _, err := w.insertChunk(id, p, p.Times[0] < h.unsealedFrom); err != nil {
			return nil, err
		}
	}
	delete(w.s.heads, id)
	nh, err := w.head(id)
	if err != nil {
		return nil, err
	}
	*h = *nh
	w.s.heads[id] = h
	return replaced, nil
}

// seal recodes a field's unsealed chunks, followed by the readings
// newer than all of them in tail (if any), into sealed ones of
// SealReadings, leaving the rest unsealed.
func (w *writer) seal(id int64, h *head, tail *chunk.Block) error {
	all, ids, err := w.readChunks("SELECT id, start_ts, end_ts, data FROM chunks WHERE series_id = ? AND sealed = 0 ORDER BY start_ts", id)
	if err != nil {
		return err
	}
	if tail != nil {
		if len(ids) == 0 {
			all = tail
		} else {
			k, _ := kindOf(tail)
			joined := newBlock(kindType(k), all.Len()+tail.Len())
			if err := appendBlock(joined, all); err != nil {
				return err
			}
			if err := appendBlock(joined, tail); err != nil {
				return err
			}
			all = joined
		}
	}
	for _, cid := range ids {
		if err := w.deleteChunk(cid); err != nil {
			return err
		}
	}
	full := all.Len() / SealReadings * SealReadings
	for _, p := range cut(sliceBlock(all, 0, full), SealReadings) {
		if _, err := w.insertChunk(id, p, true); err != nil {
			return err
		}
	}
	h.unsealedFrom, h.unsealedN, h.hasLast = math.MaxInt64, 0, false
	if err := w.writeHead(id, h, sliceBlock(all, full, all.Len())); err != nil {
		return err
	}
	if !h.hasLast {
		// The last chunk is a sealed one now.
		delete(w.s.heads, id)
		nh, err := w.head(id)
		if err != nil {
			return err
		}
		*h = *nh
		w.s.heads[id] = h
	}
	h.lastEnd = h.last.end
	return nil
}

// readChunks decodes the chunks a query of (id, start_ts, end_ts, data)
// rows selects into one block, and returns their ids.
func (w *writer) readChunks(query string, args ...any) (*chunk.Block, []int64, error) {
	rows, err := w.tx.Query(query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	var blocks []*chunk.Block
	var ids []int64
	n := 0
	for rows.Next() {
		var cid, start, end int64
		var data []byte
		if err := rows.Scan(&cid, &start, &end, &data); err != nil {
			return nil, nil, err
		}
		blk, err := chunk.Decode(data)
		if err != nil {
			return nil, nil, chunkError(start, end, err)
		}
		blocks, ids, n = append(blocks, blk), append(ids, cid), n+blk.Len()
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read chunks: %w", err)
	}
	if len(blocks) == 1 {
		return blocks[0], ids, nil
	}
	all := &chunk.Block{}
	if len(blocks) > 0 {
		k, _ := kindOf(blocks[0])
		all = newBlock(kindType(k), n)
	}
	for _, blk := range blocks {
		if err := appendBlock(all, blk); err != nil {
			return nil, nil, err
		}
	}
	return all, ids, nil
}

func (w *writer) readChunk(cid int64) (*chunk.Block, error) {
	var start, end int64
	var data []byte
	if err := w.tx.QueryRow("SELECT start_ts, end_ts, data FROM chunks WHERE id = ?", cid).Scan(&start, &end, &data); err != nil {
		return nil, fmt.Errorf("read chunk: %w", err)
	}
	blk, err := chunk.Decode(data)
	if err != nil {
		return nil, chunkError(start, end, err)
	}
	return blk, nil
}

func (w *writer) deleteChunk(cid int64) error {
	if _, err := w.tx.Exec("DELETE FROM chunks WHERE id = ?", cid); err != nil {
		return fmt.Errorf("delete chunk: %w", err)
	}
	return nil
}

// insertChunk writes one block as a chunk; sealed chunks get zstd.
func (w *writer) insertChunk(id int64, b *chunk.Block, sealed bool) (chunkRow, error) {
	data, err := chunk.Encode(nil, b, chunk.Options{Fast: !sealed})
	if err != nil {
		return chunkRow{}, err
	}
	r := chunkRow{start: b.Times[0], end: b.Times[b.Len()-1], n: b.Len(), sealed: sealed}
	res, err := w.tx.Exec("INSERT INTO chunks (series_id, start_ts, end_ts, n, sealed, data) VALUES (?, ?, ?, ?, ?, ?)",
		id, r.start, r.end, r.n, sealed, data)
	if err != nil {
		return chunkRow{}, fmt.Errorf("write chunk: %w", err)
	}
	r.id, err = res.LastInsertId()
	return r, err
}

// chunkError names the time range of a chunk that failed to decode.
func chunkError(start, end int64, err error) error {
	return protocol.Errorf(protocol.Internal, "chunk of readings from %s to %s: %v", fmtTime(start), fmtTime(end), err)
}

// rollups folds the readings nw of a field into each tier's cells. Cells
// of buckets where a reading was replaced are recomputed from the
// readings, unless raw retention may already have removed some of them.
// newest is the time of the field's newest reading.
func (w *writer) rollups(id int64, name string, nw *chunk.Block, replaced []int64, newest int64) error {
	// The cells of the finest tier from the readings, each coarser tier's
	// from the finer one's: the widths divide each other.
	var cells []bucketCell
	for i, t := range Tiers {
		cells = fold(cells, nw, t.Width, i == 0)
		dirty := map[int64]bool{}
		for _, r := range replaced {
			dirty[downsample.Start(r, t.Width)] = true
		}
		if err := w.updateTier(id, i, cells, dirty, newest); err != nil {
			return fmt.Errorf("rollup %s: %w", t.Name, err)
		}
	}
	return nil
}

// fold returns the cells of width w: from the readings of b when raw,
// else by merging the finer cells.
func fold(finer []bucketCell, b *chunk.Block, w int64, raw bool) []bucketCell {
	var out []bucketCell
	add := func(bucket int64, c downsample.Cell) {
		if n := len(out); n > 0 && out[n-1].bucket == bucket {
			out[n-1].cell.Merge(c)
			return
		}
		out = append(out, bucketCell{bucket, c})
	}
	if !raw {
		for _, fc := range finer {
			add(downsample.Start(fc.bucket, w), fc.cell)
		}
		return out
	}
	k, _ := kindOf(b)
	if k == chunk.Number {
		return foldNumbers(b.Times, b.Nums, w)
	}
	for i, t := range b.Times {
		add(downsample.Start(t, w), downsample.Point(t, valueAt(b, k, i)))
	}
	return out
}

// foldNumbers is fold of ascending number readings: what Point and Merge
// do, reading by reading in the same order, so the cells are the same
// bit for bit, without a Cell per reading.
func foldNumbers(ts []int64, vs []float64, w int64) []bucketCell {
	var out []bucketCell
	if n := len(ts); n > 0 {
		// The buckets the readings span, at most one a reading.
		span := uint64(ts[n-1]-ts[0]) / uint64(w)
		out = make([]bucketCell, 0, min(uint64(n), span+2))
	}
	var c *downsample.Cell
	var start int64 // of the current bucket
	last := -1      // index of its last reading
	for i, t := range ts {
		// t ≥ start, so the difference is exact as an unsigned number.
		if c == nil || uint64(t-start) >= uint64(w) {
			if c != nil {
				c.Last = protocol.Num(vs[last])
			}
			start = downsample.Start(t, w)
			out = append(out, bucketCell{start, downsample.Point(t, protocol.Num(vs[i]))})
			c, last = &out[len(out)-1].cell, i
			continue
		}
		v := vs[i]
		c.Count++
		c.Nums++
		c.Sum += v
		c.LastT, last = t, i
		// Ties keep the earlier time, as Merge does.
		if v < c.Min {
			c.Min, c.MinT = v, t
		}
		if v > c.Max {
			c.Max, c.MaxT = v, t
		}
	}
	if c != nil {
		c.Last = protocol.Num(vs[last])
	}
	return out
}

// updateTier merges new cells of tier ti into its pages. The page that
// holds newest, the field's newest reading, is open: the next flushes
// will rewrite it, so it is coded without zstd, which is tried once the
// page is complete (when a flush writes it with cells after it, as the
// flush that crosses into the next page does).
func (w *writer) updateTier(id int64, ti int, cells []bucketCell, dirty map[int64]bool, newest int64) error {
	t := Tiers[ti]
	w.s.mu.Lock()
	rawFrom := w.s.horizons[0]
	w.s.mu.Unlock()
	for lo := 0; lo < len(cells); {
		page := pageOf(cells[lo].bucket, t)
		hi := lo
		for hi < len(cells) && pageOf(cells[hi].bucket, t) == page {
			hi++
		}
		sc := &w.s.pageScratch
		old := sc.old[:0]
		var data []byte
		err := w.tx.QueryRow("SELECT data FROM rollups WHERE series_id = ? AND tier = ? AND page = ?", id, ti, page).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			if old, err = sc.dec.decode(old, data); err != nil {
				return pageError(t, page, err)
			}
		}
		sc.old = old
		merged := sc.merged[:0]
		i := 0
		for _, nc := range cells[lo:hi] {
			for i < len(old) && old[i].bucket < nc.bucket {
				merged = append(merged, old[i])
				i++
			}
			c := nc.cell
			if i < len(old) && old[i].bucket == nc.bucket {
				if dirty[nc.bucket] && nc.bucket >= rawFrom {
					if c, err = w.rawCell(id, nc.bucket, nc.bucket+t.Width); err != nil {
						return err
					}
				} else {
					c = old[i].cell
					c.Merge(nc.cell)
				}
				i++
			}
			merged = append(merged, bucketCell{nc.bucket, c})
		}
		merged = append(merged, old[i:]...)
		sc.merged = merged
		open := newest < page+t.Width*pageCells && hi == len(cells)
		enc, err := sc.enc.encode(merged, chunk.Options{Fast: open})
		if err != nil {
			return err
		}
		if _, err := w.tx.Exec(`INSERT INTO rollups (series_id, tier, page, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (series_id, tier, page) DO UPDATE SET data = excluded.data`, id, ti, page, enc); err != nil {
			return fmt.Errorf("write rollup page: %w", err)
		}
		lo = hi
	}
	return nil
}

func fmtTime(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339Nano) }

// pageError names the tier and time range of a page that failed to decode.
func pageError(t Tier, page int64, err error) error {
	return protocol.Errorf(protocol.Internal, "%s rollup page from %s to %s: %v", t.Name,
		fmtTime(page), fmtTime(page+t.Width*pageCells), err)
}

// rawCell summarises a field's readings in [from, to), in tx.
func (w *writer) rawCell(id, from, to int64) (downsample.Cell, error) {
	var c downsample.Cell
	err := scanChunks(context.Background(), w.tx, id, from, to, func(b *chunk.Block, _, _ int64) error {
		b = clip(b, from, to)
		for _, bc := range fold(nil, b, to-from, true) {
			c.Merge(bc.cell)
		}
		return nil
	})
	return c, err
}
