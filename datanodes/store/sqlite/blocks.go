package sqlite

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
)

// Helpers over single-kind blocks of readings, the write path's working
// shape.

// kindOf names the kind of a block's values; an empty block has none.
func kindOf(b *chunk.Block) (chunk.Kind, bool) {
	if b.Len() == 0 {
		return 0, false
	}
	return b.KindAt(0), true
}

// newBlock returns an empty block of values of type typ with room for n
// readings.
func newBlock(typ string, n int) *chunk.Block {
	b := &chunk.Block{Times: make([]int64, 0, n)}
	switch typ {
	case protocol.TypeNumber:
		b.Nums = make([]float64, 0, n)
	case protocol.TypeString:
		b.Strs = make([]string, 0, n)
	case protocol.TypeBool:
		b.Bools = make([]bool, 0, n)
	}
	return b
}

// kindType names the value type of a kind.
func kindType(k chunk.Kind) string {
	switch k {
	case chunk.String:
		return protocol.TypeString
	case chunk.Bool:
		return protocol.TypeBool
	}
	return protocol.TypeNumber
}

// sliceBlock returns rows [lo, hi) of b, sharing memory.
func sliceBlock(b *chunk.Block, lo, hi int) *chunk.Block {
	out := &chunk.Block{Times: b.Times[lo:hi]}
	switch k, _ := kindOf(b); k {
	case chunk.Number:
		out.Nums = b.Nums[lo:hi]
	case chunk.String:
		out.Strs = b.Strs[lo:hi]
	case chunk.Bool:
		out.Bools = b.Bools[lo:hi]
	}
	return out
}

// appendBlock appends the rows of o to b; both must hold one kind, the same.
func appendBlock(b, o *chunk.Block) error {
	if o.Len() == 0 {
		return nil
	}
	if kb, ok := kindOf(b); ok {
		if ko, _ := kindOf(o); ko != kb {
			return fmt.Errorf("values of kind %d after kind %d", ko, kb)
		}
	}
	b.Times = append(b.Times, o.Times...)
	b.Nums = append(b.Nums, o.Nums...)
	b.Strs = append(b.Strs, o.Strs...)
	b.Bools = append(b.Bools, o.Bools...)
	return nil
}

// mergeBlocks merges two blocks in time order, each ascending without
// duplicates; at a time both hold, nw's reading replaces old's, and the
// time is returned in replaced.
func mergeBlocks(old, nw *chunk.Block) (*chunk.Block, []int64, error) {
	ko, okO := kindOf(old)
	kn, okN := kindOf(nw)
	switch {
	case !okO:
		return nw, nil, nil
	case !okN:
		return old, nil, nil
	case ko != kn:
		return nil, nil, fmt.Errorf("values of kind %d where the field holds kind %d", kn, ko)
	}
	out := &chunk.Block{}
	var replaced []int64
	switch ko {
	case chunk.Number:
		out.Times, out.Nums, replaced = merge(old.Times, old.Nums, nw.Times, nw.Nums)
	case chunk.String:
		out.Times, out.Strs, replaced = merge(old.Times, old.Strs, nw.Times, nw.Strs)
	case chunk.Bool:
		out.Times, out.Bools, replaced = merge(old.Times, old.Bools, nw.Times, nw.Bools)
	}
	return out, replaced, nil
}

func merge[T any](ot []int64, ov []T, nt []int64, nv []T) ([]int64, []T, []int64) {
	ts := make([]int64, 0, len(ot)+len(nt))
	vs := make([]T, 0, len(ot)+len(nt))
	var replaced []int64
	i, j := 0, 0
	for i < len(ot) || j < len(nt) {
		switch {
		case j == len(nt) || (i < len(ot) && ot[i] < nt[j]):
			ts, vs = append(ts, ot[i]), append(vs, ov[i])
			i++
		case i == len(ot) || nt[j] < ot[i]:
			ts, vs = append(ts, nt[j]), append(vs, nv[j])
			j++
		default:
			replaced = append(replaced, nt[j])
			ts, vs = append(ts, nt[j]), append(vs, nv[j])
			i++
			j++
		}
	}
	return ts, vs, replaced
}

// sortBlock sorts b's rows by time, stably, and of rows at one time keeps
// the last; an ascending block (the usual case) costs one pass.
func sortBlock(b *chunk.Block) *chunk.Block {
	strict := true
	for i := 1; i < len(b.Times); i++ {
		if b.Times[i] <= b.Times[i-1] {
			strict = false
			break
		}
	}
	if strict {
		return b
	}
	idx := make([]int, len(b.Times))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(b.Times[x], b.Times[y]) })
	// Keep the last of equal times: walk the sorted order and overwrite.
	keep := idx[:0]
	for _, i := range idx {
		if n := len(keep); n > 0 && b.Times[keep[n-1]] == b.Times[i] {
			keep[n-1] = i
			continue
		}
		keep = append(keep, i)
	}
	out := &chunk.Block{Times: make([]int64, len(keep))}
	for k, i := range keep {
		out.Times[k] = b.Times[i]
	}
	switch k, _ := kindOf(b); k {
	case chunk.Number:
		out.Nums = pick(b.Nums, keep)
	case chunk.String:
		out.Strs = pick(b.Strs, keep)
	case chunk.Bool:
		out.Bools = pick(b.Bools, keep)
	}
	return out
}

func pick[T any](vs []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = vs[i]
	}
	return out
}

// cut splits b into blocks of at most size rows.
func cut(b *chunk.Block, size int) []*chunk.Block {
	var out []*chunk.Block
	for lo := 0; lo < b.Len(); lo += size {
		out = append(out, sliceBlock(b, lo, min(lo+size, b.Len())))
	}
	return out
}

// clip returns the rows of b in [from, to), sharing memory.
func clip(b *chunk.Block, from, to int64) *chunk.Block {
	lo, _ := slices.BinarySearch(b.Times, from)
	hi, _ := slices.BinarySearch(b.Times, to)
	return sliceBlock(b, lo, hi)
}

// appendValues appends vs to dst; the first values are taken without a
// copy (Concat would append them one by one to a column of no type yet).
func appendValues(dst *protocol.Values, vs protocol.Values) error {
	if dst.Len() == 0 && dst.Type == "" {
		*dst = vs
		return nil
	}
	return dst.Concat(vs)
}

// valueAt returns row i of a block whose rows are all of kind k.
func valueAt(b *chunk.Block, k chunk.Kind, i int) protocol.Value {
	switch k {
	case chunk.String:
		return protocol.Str(b.Strs[i])
	case chunk.Bool:
		return protocol.Bool(b.Bools[i])
	}
	return protocol.Num(b.Nums[i])
}
