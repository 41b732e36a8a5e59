package chunk

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Number columns are coded as the smallest of three forms:
//
//   - decimal: when every value is exactly m/10^k (or m·10^-k) for one
//     exponent k and integers |m| < 2^53, the exponent and the integer
//     column of mantissas (deltas, zero runs; see AppendInts). Readings
//     quantised to a decimal step, as sensors give them, cost about the
//     entropy of their noise, and step-like values almost nothing;
//   - XOR: Gorilla's XOR of each value with the previous one, with the
//     leading/trailing zero window reused when it fits (as in Prometheus
//     chunks), for values with no short decimal form;
//   - raw: 8 bytes per value, the bound on the other two.
//
// Decoding m/10^k is one IEEE division of two exact numbers, which is
// correctly rounded, so it gives back the very float64 the encoder checked
// against; values that do not come back bit for bit (-0, NaN, ±Inf,
// anything needing more than 53 bits of mantissa) rule the decimal form
// out for the column. XOR and raw are exact for every bit pattern.

// Number column forms.
const (
	floatRaw     = 1
	floatXOR     = 2
	floatDecimal = 3
	floatNearDec = 4
)

const maxExp = 22 // 10^22 is the largest power of ten exact in a float64

var pow10 = func() (p [maxExp + 1]float64) {
	p[0] = 1
	for i := 1; i <= maxExp; i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

const maxMantissa = 1 << 53

// fromDecimal returns m·10^-k.
func fromDecimal(m int64, k int) float64 {
	if k >= 0 {
		return float64(m) / pow10[k]
	}
	return float64(m) * pow10[-k]
}

// mantissa returns m with fromDecimal(m, k) == v bit for bit, if any.
func mantissa(v float64, k int) (int64, bool) {
	var x float64
	if k >= 0 {
		x = v * pow10[k]
	} else {
		x = v / pow10[-k]
	}
	x = math.Round(x)
	if !(math.Abs(x) < maxMantissa) {
		return 0, false
	}
	m := int64(x)
	want := math.Float64bits(v)
	for _, c := range [3]int64{m, m - 1, m + 1} {
		if math.Float64bits(fromDecimal(c, k)) == want {
			return c, true
		}
	}
	return 0, false
}

// decimalExp returns the smallest exponent at least from in which v has
// a decimal form.
func decimalExp(v float64, from int) (int, bool) {
	for k := from; k <= maxExp; k++ {
		if _, ok := mantissa(v, k); ok {
			return k, true
		}
	}
	return 0, false
}

// appendDecimal appends the decimal form of vs, or reports that it has
// none.
func appendDecimal(b []byte, vs []float64, ms []int64, m mode) ([]byte, bool) {
	// Large integers may need a negative exponent; start from the one
	// the first value needs.
	k := 0
	if len(vs) > 0 && math.Abs(vs[0]) >= maxMantissa {
		k = -maxExp
	}
	// One pass: a value that needs a larger exponent raises it, and the
	// mantissas so far are recomputed (at most maxExp times).
	ms = ms[:0]
	for i := 0; i < len(vs); i++ {
		if m, ok := mantissa(vs[i], k); ok {
			ms = append(ms, m)
			continue
		}
		nk, ok := decimalExp(vs[i], k+1)
		if !ok {
			return b, false
		}
		k = nk
		ms = ms[:0]
		i = -1
	}
	b = append(b, floatDecimal, byte(int8(k)))
	return appendInts(b, ms, m), true
}

// maxULPs bounds the corrections of the near-decimal form.
const maxULPs = 1 << 16

// appendNearDecimal appends the near-decimal form of vs: values a few
// units in the last place from m/10^k for one k, as sums of decimal
// readings are, coded as the exponent, the mantissas and the difference
// of each value's bits from those of m/10^k. It is exact for every value.
func appendNearDecimal(b []byte, vs []float64, m mode) ([]byte, bool) {
	if len(vs) == 0 {
		return b, false
	}
	ms := make([]int64, len(vs))
	corr := make([]int64, len(vs))
	for k := 0; k <= maxExp; k++ {
		ok := true
		for i, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return b, false
			}
			x := math.Round(v * pow10[k])
			if !(math.Abs(x) < maxMantissa) {
				return b, false // more digits only makes it larger
			}
			d := int64(math.Float64bits(v)) - int64(math.Float64bits(fromDecimal(int64(x), k)))
			if d < -maxULPs || d > maxULPs {
				ok = false
				break
			}
			ms[i], corr[i] = int64(x), d
		}
		if ok {
			b = append(b, floatNearDec, byte(k))
			b = appendInts(b, ms, m)
			return appendInts(b, corr, m), true
		}
	}
	return b, false
}

// AppendFloats appends the coded column vs to b. The count is not written.
func AppendFloats(b []byte, vs []float64) []byte { return appendFloats(b, vs, modeRice) }

// appendFloats appends vs, its integer columns in the forms m considers.
func appendFloats(b []byte, vs []float64, m mode) []byte {
	start := len(b)
	raw := 1 + 8*len(vs)
	ms := getInts(len(vs))
	defer func() { putInts(ms, *ms) }()
	if d, ok := appendDecimal(b, vs, *ms, m); ok {
		if len(d)-start < raw/4 {
			return d // no XOR form comes near
		}
		b = d
	} else if d, ok := appendNearDecimal(b, vs, m); ok {
		if len(d)-start < raw/8 {
			return d
		}
		b = d
	}
	x := appendXOR(b[len(b):], vs)
	switch {
	case len(b) > start && len(b)-start <= len(x):
		return b
	case len(x) < raw:
		return append(b[:start], x...)
	}
	b = append(b[:start], floatRaw)
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// DecodeFloats decodes n values coded by AppendFloats.
func DecodeFloats(dst []float64, b []byte, n int) ([]float64, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errCorrupt
	}
	out := dst[:0]
	if cap(out) < n {
		out = make([]float64, 0, n)
	}
	switch b[0] {
	case floatRaw:
		b = b[1:]
		if len(b) < 8*n {
			return nil, nil, errCorrupt
		}
		for i := range n {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, b[8*n:], nil
	case floatXOR:
		return decodeXOR(out, b[1:], n)
	case floatDecimal, floatNearDec:
		var bs Buffers // the integer columns are scratch
		return bs.floats(dst, b, n)
	}
	return nil, nil, errCorrupt
}

// bitWriter appends bits, most significant first.
type bitWriter struct {
	b    []byte
	free uint // unused bits in the last byte
}

func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		k := min(n, w.free)
		chunk := (v >> (n - k)) & (1<<k - 1)
		w.b[len(w.b)-1] |= byte(chunk << (w.free - k))
		w.free -= k
		n -= k
	}
}

type bitReader struct {
	b   []byte
	pos uint // bit position
}

func (r *bitReader) read(n uint) (uint64, bool) {
	if r.pos+n > uint(len(r.b))*8 {
		return 0, false
	}
	var v uint64
	for n > 0 {
		i := r.pos / 8
		off := r.pos % 8
		k := min(n, 8-off)
		bitsv := (uint64(r.b[i]) >> (8 - off - k)) & (1<<k - 1)
		v = v<<k | bitsv
		r.pos += k
		n -= k
	}
	return v, true
}

// appendXOR appends the XOR form: the first value in 64 bits, then per
// value a 0 bit when it repeats, 10 and the meaningful bits when they fit
// the previous window, or 11, 5 bits of leading zeros, 6 bits of length
// (0 meaning 64) and the meaningful bits.
func appendXOR(b []byte, vs []float64) []byte {
	w := bitWriter{b: append(b, floatXOR)}
	var prev uint64
	lead, trail := uint(0xff), uint(0)
	for i, f := range vs {
		v := math.Float64bits(f)
		if i == 0 {
			w.write(v, 64)
			prev = v
			continue
		}
		x := v ^ prev
		prev = v
		if x == 0 {
			w.write(0, 1)
			continue
		}
		l, t := uint(bits.LeadingZeros64(x)), uint(bits.TrailingZeros64(x))
		l = min(l, 31)
		if lead != 0xff && l >= lead && t >= trail {
			w.write(0b10, 2)
			w.write(x>>trail, 64-lead-trail)
			continue
		}
		lead, trail = l, t
		sig := 64 - l - t
		w.write(0b11, 2)
		w.write(uint64(l), 5)
		w.write(uint64(sig&63), 6)
		w.write(x>>t, sig)
	}
	return w.b
}

func decodeXOR(out []float64, b []byte, n int) ([]float64, []byte, error) {
	r := bitReader{b: b}
	var prev uint64
	var lead, trail uint
	for i := range n {
		if i == 0 {
			v, ok := r.read(64)
			if !ok {
				return nil, nil, errCorrupt
			}
			prev = v
			out = append(out, math.Float64frombits(v))
			continue
		}
		c, ok := r.read(1)
		if !ok {
			return nil, nil, errCorrupt
		}
		if c == 1 {
			c2, ok := r.read(1)
			if !ok {
				return nil, nil, errCorrupt
			}
			if c2 == 1 {
				l, ok1 := r.read(5)
				s, ok2 := r.read(6)
				if !ok1 || !ok2 {
					return nil, nil, errCorrupt
				}
				if s == 0 {
					s = 64
				}
				if uint(l)+uint(s) > 64 {
					return nil, nil, errCorrupt
				}
				lead, trail = uint(l), 64-uint(l)-uint(s)
			}
			x, ok := r.read(64 - lead - trail)
			if !ok {
				return nil, nil, errCorrupt
			}
			prev ^= x << trail
		}
		out = append(out, math.Float64frombits(prev))
	}
	used := (r.pos + 7) / 8
	return out, b[used:], nil
}
