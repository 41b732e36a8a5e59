package chunk

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"
)

// Integer columns (timestamps, mantissas, rollup counts and offsets) are
// coded as the smallest of these forms of the column's differences:
//
//   - deltas or deltas of deltas, each either as one zigzag varint per
//     value or as (run of zeros, value) pairs. Regular timestamps give a
//     delta of delta of zero almost everywhere, so a day at 1 Hz costs a
//     few bytes; step-like counts run-length code to nothing;
//   - residuals from the mean of the previous meanWindow values, as
//     zigzag varints: for a slow signal plus noise (the mantissas of a
//     sensor's readings) they are about the noise itself, where deltas
//     are the noise times √2, half a bit more per value once zstd has
//     entropy-coded them;
//   - any of those differences, or the values themselves, Rice-coded
//     (a unary quotient and k low bits per value, k chosen per column).
//     It needs no table, so it suits the short columns of rollup pages
//     and head chunks that zstd does not compress; sealed chunks, which
//     zstd codes as a whole, keep to the byte forms, which it compresses
//     better.
//
// All arithmetic wraps, so every int64 round-trips.

// Integer column forms.
const (
	intDelta    = 1 // zigzag varint deltas
	intDoD      = 2 // zigzag varint deltas of deltas
	intDeltaRun = 3 // deltas, zero runs
	intDoDRun   = 4 // deltas of deltas, zero runs
	intMean     = 5 // zigzag varint residuals from the running mean
	intRice     = 6 // Rice-coded differences of an order
)

// Orders of differences: what a column's values are predicted from.
const (
	orderPlain = 0 // the values themselves
	orderDelta = 1 // the previous value
	orderDoD   = 2 // the previous value and delta
	orderMean  = 3 // the mean of the previous meanWindow values
	// orderUnsigned is orderPlain with the values Rice-coded as unsigned
	// numbers, for offsets and counts.
	orderUnsigned = 4
)

// meanWindow is how many previous values the mean predictor averages:
// after the first meanWindow values, the floor of their sum over 16;
// before, their sum divided (truncating) by their number.
const meanWindow = 16

var errCorrupt = errors.New("corrupt column")

func zig(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzig(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// diffs writes in d the differences of vs of an order: d[0] is vs[0],
// d[1] the first delta when order is orderDoD.
func diffs(d, vs []int64, order int) []int64 {
	d = d[:0]
	switch order {
	case orderPlain, orderUnsigned:
		return append(d, vs...)
	case orderMean:
		var sum int64
		for i, v := range vs {
			switch {
			case i == 0:
				d = append(d, v)
			case i < meanWindow:
				d = append(d, v-sum/int64(i))
			default:
				d = append(d, v-sum>>4)
			}
			sum += v
			if i >= meanWindow {
				sum -= vs[i-meanWindow]
			}
		}
		return d
	}
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
	switch order {
	case orderPlain, orderUnsigned:
		return
	case orderMean:
		var sum int64
		for i := range d {
			switch {
			case i == 0:
			case i < meanWindow:
				d[i] += sum / int64(i)
			default:
				d[i] += sum >> 4
			}
			sum += d[i]
			if i >= meanWindow {
				sum -= d[i-meanWindow]
			}
		}
		return
	}
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
		if g == 1 {
			break
		}
	}
	return g
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// colStats are the sizes of a column of differences in the byte forms
// and the histograms of bit lengths its Rice forms are estimated from.
type colStats struct {
	varints, runs int
	zigLens       [65]int // of zigzagged values after the first
	rawLens       [65]int // of values after the first as unsigned numbers
}

// stats sizes d; raw also fills rawLens.
func (st *colStats) stats(d []int64, raw bool) {
	*st = colStats{}
	run := uint64(0)
	for i, v := range d {
		z := zig(v)
		l := bits.Len64(z)
		st.varints += (max(l, 1) + 6) / 7
		if i > 0 {
			st.zigLens[l]++
			if raw {
				st.rawLens[bits.Len64(uint64(v))]++
			}
		}
		if v == 0 {
			run++
			continue
		}
		st.runs += uvarintLen(run) + (max(l, 1)+6)/7
		run = 0
	}
	if run > 0 {
		st.runs += uvarintLen(run)
	}
}

// AppendInts appends the coded column vs to b: a form byte, then the
// body. The count is not written; the reader must know it. Every form is
// sized without being written (the Rice forms estimated from the values'
// bit lengths), and only the smallest is written.
func AppendInts(b []byte, vs []int64) []byte { return appendInts(b, vs, modeRice) }

// mode says which forms of integer columns are considered.
type mode uint8

const (
	// modeQuick considers deltas and deltas of deltas only, for a chunk
	// or page the next flush rewrites.
	modeQuick mode = iota
	// modeBytes adds the mean residuals: the byte forms, for columns
	// zstd compresses afterwards.
	modeBytes
	// modeRice adds the Rice forms, for columns no zstd follows.
	modeRice
)

// intChoice is a form of a column and its size.
type intChoice struct {
	size  int
	order int
	form  byte // intDelta ... intRice
	g     uint64
	k     uint // Rice parameter
}

// appendInts appends vs in the smallest of the forms m considers.
func appendInts(b []byte, vs []int64, m mode) []byte {
	p := getInts(len(vs))
	d := *p
	defer func() { putInts(p, d) }()
	orders := []int{orderDelta, orderDoD, orderMean, orderPlain}
	switch m {
	case modeQuick:
		orders = orders[:2]
	case modeBytes:
		orders = orders[:3]
	}
	if len(vs) < 3 {
		orders = orders[:1]
	}
	// A long column's order is chosen on its start: the forms of one
	// order are then sized on all of it.
	if len(vs) > 2*sampleLen {
		order := chooseInts(d, vs[:sampleLen], orders, m).order
		if order == orderUnsigned {
			order = orderPlain
		}
		orders = []int{order}
	}
	best := chooseInts(d, vs, orders, m)
	d = diffs(d, vs, best.order)
	form := best.form
	if best.g > 1 {
		form |= scaled
		for i := 1; i < len(d); i++ {
			d[i] /= int64(best.g)
		}
	}
	b = append(b, form)
	if best.g > 1 {
		b = binary.AppendUvarint(b, best.g)
	}
	switch best.form {
	case intDeltaRun, intDoDRun:
		return appendRuns(b, d)
	case intRice:
		unsigned := best.order == orderUnsigned
		k := riceBest(d, best.k, unsigned)
		return appendRice(append(b, byte(best.order), byte(k)), d, k, unsigned)
	}
	return appendVarints(b, d)
}

// sampleLen is how much of a long column its order is chosen on.
const sampleLen = 1024

// chooseInts returns the smallest form of vs among the orders given,
// using d as scratch space.
func chooseInts(d, vs []int64, orders []int, m mode) intChoice {
	rice := m == modeRice
	best := intChoice{size: -1}
	consider := func(c intChoice) {
		if best.size < 0 || c.size < best.size {
			best = c
		}
	}
	var st colStats
	for _, order := range orders {
		d = diffs(d, vs, order)
		g := divisor(d)
		extra := 0
		if g > 1 {
			for i := 1; i < len(d); i++ {
				d[i] /= int64(g)
			}
			extra = uvarintLen(g)
		}
		st.stats(d, rice && order == orderPlain)
		switch order {
		case orderDelta, orderDoD:
			consider(intChoice{extra + st.varints, order, byte(order), g, 0})
			consider(intChoice{extra + st.runs, order, byte(order) + 2, g, 0})
		case orderMean:
			consider(intChoice{extra + st.varints, order, intMean, g, 0})
		}
		if rice && len(d) > 0 {
			first := uvarintLen(zig(d[0]))
			k, est := riceEstimate(&st.zigLens)
			consider(intChoice{extra + 2 + first + (est+7)/8, order, intRice, g, k})
			if order == orderPlain {
				k, est := riceEstimate(&st.rawLens)
				consider(intChoice{extra + 2 + first + (est+7)/8, orderUnsigned, intRice, g, k})
			}
		}
	}
	return best
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
	order := orderDelta
	switch form {
	case intDoD, intDoDRun:
		order = orderDoD
	case intMean:
		order = orderMean
	}
	switch form {
	case intRice:
		if len(b) < 2 || b[0] > orderUnsigned || b[1] > maxRiceK {
			return nil, nil, errCorrupt
		}
		order = int(b[0])
		k := uint(b[1])
		pos = 2
		if n > 0 {
			u, ok := uvarint()
			if !ok {
				return nil, nil, errCorrupt
			}
			out[0] = unzig(u)
			used, ok := decodeRice(out[1:], b[pos:], k, order == orderUnsigned)
			if !ok {
				return nil, nil, errCorrupt
			}
			pos += used
		}
	case intDelta, intDoD, intMean:
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
	undiff(out, order)
	return out, b, nil
}

// intScratch holds the scratch columns of the coders: a flusher codes
// dozens of columns every flush.
var intScratch = sync.Pool{New: func() any { return new([]int64) }}

// getInts returns an empty scratch column of capacity n or more.
func getInts(n int) *[]int64 {
	p := intScratch.Get().(*[]int64)
	if cap(*p) < n {
		*p = make([]int64, 0, n)
	}
	*p = (*p)[:0]
	return p
}

// putInts gives back p, with d, the column it became (grown, perhaps),
// unless it is too large to keep.
func putInts(p *[]int64, d []int64) {
	if cap(d) <= 1<<16 {
		*p = d[:0]
		intScratch.Put(p)
	}
}
