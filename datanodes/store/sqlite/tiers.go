package sqlite

import (
	"errors"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Tier is a rollup resolution.
type Tier struct {
	Name  string // its key under store.retention in the node file
	Width int64  // nanoseconds
}

// Tiers are the rollup tiers, finest first. Their widths are those of
// downsample.TierWidths, so get_data's widths fit them.
var Tiers = []Tier{
	{"10s", int64(10 * time.Second)},
	{"minute", int64(time.Minute)},
	{"10m", int64(10 * time.Minute)},
	{"hour", int64(time.Hour)},
	{"day", int64(24 * time.Hour)},
}

// pageCells is how many consecutive buckets one rollup page spans: a
// page of the 10 s tier covers 42 minutes, of the hour tier 10 days.
const pageCells = 256

// pageOf returns the start of the page holding bucket b of tier t.
func pageOf(b int64, t Tier) int64 { return downsample.Start(b, t.Width*pageCells) }

// bucketCell is one rollup cell and the start of its bucket.
type bucketCell struct {
	bucket int64
	cell   downsample.Cell
}

const pageTag = 'R'

// encodePage codes a page's cells, in ascending bucket order, as columns.
func encodePage(cells []bucketCell, o chunk.Options) ([]byte, error) {
	var e pageEncoder
	return e.encode(cells, o)
}

// pageEncoder codes rollup pages as encodePage does, reusing its columns
// and output from one page to the next: the flusher rewrites every tier's
// open page of every field it writes. Not safe for concurrent use.
type pageEncoder struct {
	f                                                  chunk.Frame
	buckets, counts, nums, firsts, lasts, minTs, maxTs []int64
	sums, mins, maxs                                   []float64
	kinds                                              []chunk.Kind
	last                                               chunk.Block
	lastCoded                                          []byte
}

// encode codes a page's cells; the bytes are e's until its next encode.
func (e *pageEncoder) encode(cells []bucketCell, o chunk.Options) ([]byte, error) {
	n := len(cells)
	f := &e.f
	f.Reset(pageTag, o)
	f.Uvarint(uint64(n))
	buckets, counts, nums := resize(e.buckets, n), resize(e.counts, n), resize(e.nums, n)
	firsts, lasts := resize(e.firsts, n), resize(e.lasts, n)
	sums, mins, maxs := e.sums[:0], e.mins[:0], e.maxs[:0]
	minTs, maxTs := e.minTs[:0], e.maxTs[:0]
	last := &e.last
	*last = chunk.Block{Times: buckets, Nums: last.Nums[:0], Strs: last.Strs[:0], Bools: last.Bools[:0]}
	kinds := e.kinds[:0]
	for i, bc := range cells {
		c, b := &bc.cell, bc.bucket
		buckets[i], counts[i], nums[i] = b, c.Count, c.Nums
		firsts[i], lasts[i] = c.First-b, c.LastT-b
		if c.Nums > 0 {
			sums, mins, maxs = append(sums, c.Sum), append(mins, c.Min), append(maxs, c.Max)
			minTs, maxTs = append(minTs, c.MinT-b), append(maxTs, c.MaxT-b)
		}
		k, err := appendValue(last, c.Last)
		if err != nil {
			return nil, err
		}
		kinds = append(kinds, k)
	}
	e.buckets, e.counts, e.nums, e.firsts, e.lasts = buckets, counts, nums, firsts, lasts
	e.sums, e.mins, e.maxs, e.minTs, e.maxTs, e.kinds = sums, mins, maxs, minTs, maxTs, kinds
	if last.Len() != 0 && (len(last.Nums) != n && len(last.Strs) != n && len(last.Bools) != n) {
		last.Kinds = kinds
	}
	f.Ints(buckets)
	f.Ints(counts)
	f.Ints(nums)
	f.Ints(firsts)
	f.Ints(lasts)
	f.Uvarint(uint64(len(sums)))
	f.Floats(sums)
	f.Floats(mins)
	f.Floats(maxs)
	f.Ints(minTs)
	f.Ints(maxTs)
	// The frame as a whole gets zstd when that pays, so the last values'
	// chunk is coded without; in the Rice forms too unless the page is
	// open (o.Fast).
	lb, err := chunk.Encode(e.lastCoded[:0], last, chunk.Options{Fast: true, Rice: !o.Fast})
	if err != nil {
		return nil, err
	}
	e.lastCoded = lb
	f.Bytes(lb)
	return f.Finish(), nil
}

// pageScratch is what the flusher reuses from one rollup page it
// rewrites to the next: the page read, the page merged, and the coders.
type pageScratch struct {
	dec         pageDecoder
	enc         pageEncoder
	old, merged []bucketCell
}

// resize returns s with length n, reusing its memory when it can.
func resize(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}

var errBadPage = errors.New("malformed rollup page")

// decodePage decodes a page made by encodePage (see pageDecoder, which
// readers of many pages use).
func decodePage(b []byte) ([]bucketCell, error) {
	var d pageDecoder
	return d.decode(nil, b)
}

// appendValue appends one value to blk's column of its kind.
func appendValue(blk *chunk.Block, v protocol.Value) (chunk.Kind, error) {
	switch v.Type {
	case protocol.TypeNumber:
		blk.Nums = append(blk.Nums, v.Num)
		return chunk.Number, nil
	case protocol.TypeString:
		blk.Strs = append(blk.Strs, v.Str)
		return chunk.String, nil
	case protocol.TypeBool:
		blk.Bools = append(blk.Bools, v.Bool)
		return chunk.Bool, nil
	}
	return 0, fmt.Errorf("value of type %q", v.Type)
}

// blockOf returns the readings ts, vs as a block (sharing their memory).
func blockOf(ts []int64, vs protocol.Values) *chunk.Block {
	blk := &chunk.Block{Times: ts}
	switch vs.Type {
	case protocol.TypeNumber:
		blk.Nums = vs.Nums
	case protocol.TypeString:
		blk.Strs = vs.Strs
	case protocol.TypeBool:
		blk.Bools = vs.Bools
	}
	return blk
}

// valuesOf returns a block's values as a column; stored series hold one
// type, so a mixed block is damage.
func valuesOf(blk *chunk.Block) (protocol.Values, error) {
	if blk.Kinds != nil {
		return protocol.Values{}, errors.New("chunk mixes value types")
	}
	switch {
	case len(blk.Strs) > 0:
		return protocol.Strings(blk.Strs...), nil
	case len(blk.Bools) > 0:
		return protocol.Bools(blk.Bools...), nil
	}
	return protocol.Numbers(blk.Nums...), nil
}
