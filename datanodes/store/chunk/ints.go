package chunk

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Integer columns (timestamps, rollup counts and offsets) are coded as the
// smallest of four forms: deltas or deltas of deltas, each either as one
// zigzag varint per value or as (run of zeros, value) pairs. Regular
// timestamps give a delta of delta of zero almost everywhere, so a day at
// 1 Hz costs a few bytes; step-like counts run-length code to nothing.
// All arithmetic wraps, so every int64 round-trips.

// Integer column forms.
const (
	intDelta    = 1 // zigzag varint deltas
	intDoD      = 2 // zigzag varint deltas of deltas
	intDeltaRun = 3 // deltas, zero runs
	intDoDRun   = 4 // deltas of deltas, zero runs
)

var errCorrupt = errors.New("corrupt column")

func zig(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzig(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// diffs writes in d the deltas (order 1) or deltas of deltas (order 2) of
// vs: d[0] is vs[0], d[1] the first delta when order is 2.
func diffs(d, vs []int64, order int) []int64 {
	d = d[:0]
	var prev, prevDelta int64
	for i, v := range vs {
		delta := v - prev
		switch {
		case i == 0:
			d = append(d, v)
		case order == 1 || i == 1:
			d = append(d, delta)
		default:
			d = append(d, delta-prevDelta)
		}
		prev, prevDelta = v, delta
	}
	return d
}

// undiff inverts diffs in place.
func undiff(d []int64, order int) {
	if len(d) < 2 {
		return
	}
	prev := d[0]
	if order == 1 {
		for i, v := range d[1:] {
			prev += v
			d[i+1] = prev
		}
		return
	}
	var delta int64
	for i, v := range d[1:] {
		if i == 0 {
			delta = v
		} else {
			delta += v
		}
		prev += delta
		d[i+1] = prev
	}
}

func appendVarints(b []byte, d []int64) []byte {
	for _, v := range d {
		b = binary.AppendUvarint(b, zig(v))
	}
	return b
}

// appendRuns writes d as pairs (zeros before the value, value); a final
// run of zeros is written as a pair whose value is absent, which the
// known count tells apart.
func appendRuns(b []byte, d []int64) []byte {
	run := uint64(0)
	for _, v := range d {
		if v == 0 {
			run++
			continue
		}
		b = binary.AppendUvarint(b, run)
		b = binary.AppendUvarint(b, zig(v))
		run = 0
	}
	if run > 0 {
		b = binary.AppendUvarint(b, run)
	}
	return b
}

// scaled marks a form whose differences after the first value are
// multiples of a common divisor, written after the form byte: times
// offsets in whole seconds cost a byte, not five.
const scaled = 0x80

// divisor returns the greatest common divisor of d[1:], 0 when all are 0.
func divisor(d []int64) uint64 {
	var g uint64
	for _, v := range d[min(1, len(d)):] {
		u := uint64(v)
		if v < 0 {
			u = -u
		}
		for u != 0 {
			g, u = u, g%u
		}
	}
	return g
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// sizes returns the lengths of d as varints and as zero runs.
func sizes(d []int64) (varints, runs int) {
	run := uint64(0)
	for _, v := range d {
		z := zig(v)
		varints += uvarintLen(z)
		if v == 0 {
			run++
			continue
		}
		runs += uvarintLen(run) + uvarintLen(z)
		run = 0
	}
	if run > 0 {
		runs += uvarintLen(run)
	}
	return varints, runs
}

// AppendInts appends the coded column vs to b: a form byte, then the
// body. The count is not written; the reader must know it. The four
// forms are sized in one pass each and only the smallest is written.
func AppendInts(b []byte, vs []int64) []byte {
	d := make([]int64, 0, len(vs))
	best, bestOrder, bestRuns, bestG := -1, 0, false, uint64(0)
	for _, order := range []int{1, 2} {
		d = diffs(d, vs, order)
		g := divisor(d)
		extra := 0
		if g > 1 {
			for i := 1; i < len(d); i++ {
				d[i] /= int64(g)
			}
			extra = uvarintLen(g)
		}
		v, r := sizes(d)
		if best < 0 || extra+v < best {
			best, bestOrder, bestRuns, bestG = extra+v, order, false, g
		}
		if extra+r < best {
			best, bestOrder, bestRuns, bestG = extra+r, order, true, g
		}
	}
	d = diffs(d, vs, bestOrder)
	form := byte(bestOrder)
	if bestRuns {
		form += 2
	}
	if bestG > 1 {
		form |= scaled
		for i := 1; i < len(d); i++ {
			d[i] /= int64(bestG)
		}
	}
	b = append(b, form)
	if bestG > 1 {
		b = binary.AppendUvarint(b, bestG)
	}
	if bestRuns {
		return appendRuns(b, d)
	}
	return appendVarints(b, d)
}

// DecodeInts decodes n values coded by AppendInts from b into dst and
// returns them and the bytes after them.
func DecodeInts(dst []int64, b []byte, n int) ([]int64, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errCorrupt
	}
	form := b[0]
	b = b[1:]
	g := uint64(1)
	if form&scaled != 0 {
		form &^= scaled
		var k int
		if g, k = binary.Uvarint(b); k <= 0 || g < 2 {
			return nil, nil, errCorrupt
		}
		b = b[k:]
	}
	if cap(dst) < n {
		dst = make([]int64, n)
	}
	out := dst[:n]
	pos := 0 // next byte of b
	// uvarint reads one value at pos; ok is false past the end or on
	// an overlong encoding.
	uvarint := func() (uint64, bool) {
		var x uint64
		for shift := uint(0); shift < 64; shift += 7 {
			if pos >= len(b) {
				return 0, false
			}
			c := b[pos]
			pos++
			if c < 0x80 {
				return x | uint64(c)<<shift, shift < 63 || c <= 1
			}
			x |= uint64(c&0x7f) << shift
		}
		return 0, false
	}
	switch form {
	case intDelta, intDoD:
		for i := range out {
			if pos < len(b) && b[pos] < 0x80 { // one-byte values, the usual case
				out[i] = unzig(uint64(b[pos]))
				pos++
				continue
			}
			u, ok := uvarint()
			if !ok {
				return nil, nil, errCorrupt
			}
			out[i] = unzig(u)
		}
	case intDeltaRun, intDoDRun:
		for i := 0; i < n; {
			run, ok := uvarint()
			if !ok || run > uint64(n-i) {
				return nil, nil, errCorrupt
			}
			clear(out[i : i+int(run)])
			i += int(run)
			if i == n {
				break
			}
			u, ok := uvarint()
			if !ok {
				return nil, nil, errCorrupt
			}
			out[i] = unzig(u)
			i++
		}
	default:
		return nil, nil, errCorrupt
	}
	b = b[pos:]
	if g > 1 {
		for i := 1; i < len(out); i++ {
			out[i] *= int64(g)
		}
	}
	order := 1
	if form == intDoD || form == intDoDRun {
		order = 2
	}
	undiff(out, order)
	return out, b, nil
}
