package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// The query planner. A bucketed query over [Start, End) at width B is
// fed to a Bucketer from a ladder of sources, the tiers no wider than B,
// coarsest first, then the readings. A source answers the cells it can
// give whole: cells of its width lying inside the span asked, inside one
// query bucket, and at or after the time from which the source is
// complete (its retention horizon). What it cannot give (the partial
// cells at the span's edges, the cells a query bucket boundary splits
// when B is not a multiple of the tier, and what lies before its horizon)
// goes to the next finer source. A tier-aligned B (downsample.Width gives
// those) is thus answered from the coarsest tier for all whole buckets,
// and from finer tiers and readings only at the range's two ends.
//
// Every source reads its rows lazily and in ascending time, with one
// statement per contiguous run of pages or chunks, so the cells reach the
// Bucketer in order.

// splitCells is how many cells of a tier that does not divide a bucket
// width the bucket must span for the tier to be used.
const splitCells = 4

type planner struct {
	ctx     context.Context
	s       *Store
	q       querier // one snapshot of the database for the whole query
	series  int64
	bucket  int64
	from    int64 // the query's range
	to      int64
	levels  []int // tier indexes, coarsest first
	horizon []int64
	pages   *pageCache
	b       *downsample.Bucketer
	// the last chunk of readings read, and its time range
	last               *chunk.Block
	lastStart, lastEnd int64
}

func (s *Store) planner(ctx context.Context, db querier, pages *pageCache, series int64, q store.Query) *planner {
	p := &planner{ctx: ctx, s: s, q: db, pages: pages, series: series, bucket: q.Bucket, from: q.Start, to: q.End}
	if !s.noRollups {
		// A tier helps when it divides the width, or when its cells are
		// few enough per bucket that the ones a bucket boundary splits
		// (read from finer sources) are a small part.
		for i := len(Tiers) - 1; i >= 0; i-- {
			if w := Tiers[i].Width; w <= q.Bucket && (q.Bucket%w == 0 || w*splitCells <= q.Bucket) {
				p.levels = append(p.levels, i)
			}
		}
	}
	s.mu.Lock()
	p.horizon = append([]int64(nil), s.horizons...)
	s.mu.Unlock()
	return p
}

// feed feeds the query's range to b.
func (p *planner) feed(b *downsample.Bucketer) error {
	p.b = b
	if len(p.levels) > 0 {
		p.s.tierScans.Add(1)
	}
	return p.span(0, p.from, p.to)
}

// span feeds [from, to) from level and finer.
func (p *planner) span(level int, from, to int64) error {
	if from >= to {
		return nil
	}
	if level == len(p.levels) {
		return p.raw(from, to)
	}
	w := Tiers[p.levels[level]].Width
	if p.bucket%w != 0 {
		// Query buckets split this tier's cells: plan each on its own.
		for k := downsample.Start(from, p.bucket); k < to; k += p.bucket {
			if err := p.whole(level, max(from, k), min(to, k+p.bucket)); err != nil {
				return err
			}
		}
		return nil
	}
	return p.whole(level, from, to)
}

// whole feeds [from, to), which lies in one query bucket or has aligned
// boundaries, from level's whole cells and finer sources for the rest.
func (p *planner) whole(level int, from, to int64) error {
	ti := p.levels[level]
	w := Tiers[ti].Width
	a, z := ceilTo(from, w), downsample.Start(to, w)
	if a > z { // within one cell
		return p.edge(level, z, from, to)
	}
	if err := p.edge(level, a-w, from, a); err != nil {
		return err
	}
	h := min(max(a, ceilTo(p.horizon[1+ti], w)), z)
	if err := p.span(level+1, a, h); err != nil {
		return err
	}
	if h < z {
		if err := p.cells(level, h, z, func(c *bucketCell) { p.b.AddCell(c.bucket, c.cell) }); err != nil {
			return err
		}
	}
	return p.edge(level, z, z, to)
}

// edge feeds [from, to), part of the cell of level's tier at bucket c:
// from that cell when its readings all lie in the span (or it has none),
// else from finer sources.
func (p *planner) edge(level int, c, from, to int64) error {
	if from >= to {
		return nil
	}
	ti := p.levels[level]
	if c < p.horizon[1+ti] {
		return p.span(level+1, from, to)
	}
	var cl downsample.Cell
	if err := p.cells(level, c, c+Tiers[ti].Width, func(bc *bucketCell) { cl = bc.cell }); err != nil {
		return err
	}
	if cl.Count == 0 {
		return nil // the tier is complete here: no readings
	}
	if cl.First >= from && cl.LastT < to {
		// Stamped at a reading's time: the cell may start in the query
		// bucket before.
		p.b.AddCell(cl.First, cl)
		return nil
	}
	return p.span(level+1, from, to)
}

// cells calls fn with the stored cells of level's tier in [a, z), in
// ascending order. The cell fn gets is valid until the next read.
func (p *planner) cells(level int, a, z int64, fn func(*bucketCell)) error {
	ti := p.levels[level]
	t := Tiers[ti]
	step := t.Width * pageCells
	first, last := pageOf(a, t), pageOf(z-1, t)
	emit := func(cs []bucketCell) {
		lo := sort.Search(len(cs), func(i int) bool { return cs[i].bucket >= a })
		for i := lo; i < len(cs) && cs[i].bucket < z; i++ {
			fn(&cs[i])
		}
	}
	// The pages read last are kept; the rest come in one statement.
	pg := first
	for ; pg <= last; pg += step {
		cp := p.pages.get(p.series, ti, pg)
		if cp == nil {
			break
		}
		emit(cp.cells)
	}
	if pg > last {
		return nil
	}
	rows, err := p.q.QueryContext(context.Background(), "SELECT page, data FROM rollups WHERE series_id = ? AND tier = ? AND page >= ? AND page <= ? ORDER BY page",
		p.series, ti, pg, last)
	if err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		var at int64
		var data sql.RawBytes
		if err := rows.Scan(&at, &data); err != nil {
			return err
		}
		for ; pg < at; pg += step {
			p.pages.put(p.series, ti, pg) // no row: an empty page
		}
		cp := p.pages.put(p.series, ti, at)
		if cp.cells, err = p.pages.dec.decode(cp.cells, data); err != nil {
			cp.page = noPage
			return pageError(t, at, err)
		}
		emit(cp.cells)
		pg = at + step
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	for ; pg <= last; pg += step {
		p.pages.put(p.series, ti, pg)
	}
	return nil
}

// pageSlots is how many decoded pages of each tier a query keeps: each
// tier's pages are read in ascending order, and the edges of a span look
// back at most one page.
const pageSlots = 4

// noPage marks a free slot.
const noPage = math.MinInt64

// pageCache keeps the rollup pages a query read last, decoded, per tier,
// and the decoder's buffers. Queries take one from pagePool and give it
// back, so a query allocates no pages in the steady state.
type pageCache struct {
	dec   pageDecoder
	slots [][pageSlots]cachedPage // per tier
	tick  uint64
}

type cachedPage struct {
	series, page int64
	cells        []bucketCell
	used         uint64
}

var pagePool = sync.Pool{New: func() any { return &pageCache{slots: make([][pageSlots]cachedPage, len(Tiers))} }}

// getPages returns an empty page cache; putPages gives it back.
func getPages() *pageCache {
	c := pagePool.Get().(*pageCache)
	for ti := range c.slots {
		for i := range c.slots[ti] {
			c.slots[ti][i].page = noPage
		}
	}
	return c
}

func putPages(c *pageCache) { pagePool.Put(c) }

// get returns the cached page of a series and tier, or nil.
func (c *pageCache) get(series int64, tier int, page int64) *cachedPage {
	for i := range c.slots[tier] {
		if cp := &c.slots[tier][i]; cp.page == page && cp.series == series {
			c.tick++
			cp.used = c.tick
			return cp
		}
	}
	return nil
}

// put returns the slot for a page, empty, the least recently used one.
func (c *pageCache) put(series int64, tier int, page int64) *cachedPage {
	s := &c.slots[tier]
	lru := &s[0]
	for i := range s {
		if s[i].page == noPage {
			lru = &s[i]
			break
		}
		if s[i].used < lru.used {
			lru = &s[i]
		}
	}
	c.tick++
	lru.series, lru.page, lru.cells, lru.used = series, page, lru.cells[:0], c.tick
	return lru
}

// ceilTo rounds t up to a multiple of w; times near the smallest int64,
// which stands for "since ever", stay as they are.
func ceilTo(t, w int64) int64 {
	if t < math.MinInt64/2 {
		return t
	}
	s := downsample.Start(t, w)
	if s < t {
		s += w
	}
	return s
}

// raw feeds the readings in [from, to). The last chunk read is kept: when
// query buckets split cells, many short spans fall in one chunk.
func (p *planner) raw(from, to int64) error {
	if p.last != nil && p.lastStart <= from && to-1 <= p.lastEnd {
		return p.addBlock(p.last, from, to)
	}
	return scanChunks(p.ctx, p.q, p.series, from, to, func(b *chunk.Block, start, end int64) error {
		p.last, p.lastStart, p.lastEnd = b, start, end
		return p.addBlock(b, from, to)
	})
}

func (p *planner) addBlock(b *chunk.Block, from, to int64) error {
	lo, hi := within(b.Times, from, to)
	k, _ := kindOf(b)
	for i := lo; i < hi; i++ {
		p.b.Add(b.Times[i], valueAt(b, k, i))
	}
	return nil
}
