package sqlite

import (
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// pageDecoder decodes rollup pages made by encodePage, reusing its
// columns and decompression buffers from one page to the next: a query
// reads hundreds of pages. Not safe for concurrent use.
type pageDecoder struct {
	bufs                                 chunk.Buffers
	buckets, counts, nums, firsts, lasts []int64
	minTs, maxTs                         []int64
	sums, mins, maxs                     []float64
	last                                 chunk.Block
}

// decode decodes page b into dst's memory and returns the cells, which
// share no memory with d.
func (d *pageDecoder) decode(dst []bucketCell, b []byte) ([]bucketCell, error) {
	r, err := d.bufs.ReadFrame(b, pageTag)
	if err != nil {
		return nil, err
	}
	n64 := r.Uvarint()
	if n64 > pageCells*4 {
		return nil, errBadPage
	}
	n := int(n64)
	d.buckets, d.counts, d.nums = r.IntsInto(d.buckets, n), r.IntsInto(d.counts, n), r.IntsInto(d.nums, n)
	d.firsts, d.lasts = r.IntsInto(d.firsts, n), r.IntsInto(d.lasts, n)
	k64 := r.Uvarint()
	if k64 > n64 {
		return nil, errBadPage
	}
	k := int(k64)
	d.sums, d.mins, d.maxs = r.FloatsInto(d.sums, k), r.FloatsInto(d.mins, k), r.FloatsInto(d.maxs, k)
	d.minTs, d.maxTs = r.IntsInto(d.minTs, k), r.IntsInto(d.maxTs, k)
	if err := r.ChunkInto(&d.last); err != nil {
		return nil, r.Err()
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	last := &d.last
	if last.Len() != n {
		return nil, errBadPage
	}
	if cap(dst) < n {
		dst = make([]bucketCell, n)
	}
	out := dst[:n]
	var ni, si, bi, j int
	for i := range out {
		c := &out[i].cell
		bkt := d.buckets[i]
		*c = downsample.Cell{Count: d.counts[i], Nums: d.nums[i], First: bkt + d.firsts[i], LastT: bkt + d.lasts[i],
			NonNum: d.counts[i] > d.nums[i]}
		out[i].bucket = bkt
		if c.Nums > 0 {
			if j >= k {
				return nil, errBadPage
			}
			c.Sum, c.Min, c.Max, c.MinT, c.MaxT = d.sums[j], d.mins[j], d.maxs[j], bkt+d.minTs[j], bkt+d.maxTs[j]
			j++
		}
		switch last.KindAt(i) {
		case chunk.Number:
			c.Last = protocol.Num(last.Nums[ni])
			ni++
		case chunk.String:
			c.Last = protocol.Str(last.Strs[si])
			si++
		case chunk.Bool:
			c.Last = protocol.Bool(last.Bools[bi])
			bi++
		}
	}
	if j != k {
		return nil, errBadPage
	}
	return out, nil
}
