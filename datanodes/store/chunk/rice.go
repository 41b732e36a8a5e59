package chunk

import (
	"encoding/binary"
	"math/bits"
)

// The Rice form of an integer column: the first value as a zigzag
// uvarint, then per further value z (zigzagged, except in the unsigned
// order, for offsets and counts, where a negative value is an outlier)
// its quotient z>>k in unary (that many 1 bits and a 0) and its k low
// bits, least significant bit first. A quotient of riceEscape or more is written as riceEscape 1
// bits, the bit length of z in 7 bits and z in that many bits, so an
// outlier costs about 90 bits, not z>>k.

const (
	riceEscape = 24
	maxRiceK   = 56
)

// riceMap maps a value to the unsigned number Rice codes.
func riceMap(v int64, unsigned bool) uint64 {
	if unsigned {
		return uint64(v)
	}
	return zig(v)
}

func riceUnmap(z uint64, unsigned bool) int64 {
	if unsigned {
		return int64(z)
	}
	return unzig(z)
}

// riceEstimate returns the parameter that codes values of the bit
// lengths counted in lens in the fewest bits, and those bits, estimating
// a value of length L > k to have a quotient of 1.5·2^(L-1-k): robust to
// outliers, where a parameter from the mean is not.
func riceEstimate(lens *[65]int) (k uint, est int) {
	maxL := 0
	for l, c := range lens {
		if c > 0 {
			maxL = l
		}
	}
	best := -1.0
	for kk := uint(0); kk <= min(uint(maxL), maxRiceK); kk++ {
		e := 0.0
		for l, c := range lens[:maxL+1] {
			if c == 0 {
				continue
			}
			q := 0.0
			if uint(l) > kk {
				q = 1.5 * float64(uint64(1)<<(uint(l)-1-kk))
			}
			if q >= riceEscape {
				e += float64(c) * float64(riceEscape+7+l)
			} else {
				e += float64(c) * (q + 1 + float64(kk))
			}
		}
		if best < 0 || e < best {
			k, best = kk, e
		}
	}
	return k, int(best)
}

// riceBest returns whichever of k and its neighbours codes d[1:] in the
// fewest bits, sized exactly in one pass.
func riceBest(d []int64, k uint, unsigned bool) uint {
	lo := max(k, 1) - 1
	var n [3]int
	for _, v := range d[min(1, len(d)):] {
		z := riceMap(v, unsigned)
		for j := range n {
			kk := lo + uint(j)
			if q := z >> kk; q >= riceEscape {
				n[j] += riceEscape + 7 + bits.Len64(z)
			} else {
				n[j] += int(q) + 1 + int(kk)
			}
		}
	}
	best := 0
	for j := range n {
		if lo+uint(j) <= maxRiceK && n[j] < n[best] {
			best = j
		}
	}
	return lo + uint(best)
}

// bitAppender appends bits least significant first.
type bitAppender struct {
	b   []byte
	acc uint64
	n   uint // bits in acc, < 8 between calls
}

// put appends the low k ≤ 56 bits of v.
func (w *bitAppender) put(v uint64, k uint) {
	if k < 64 {
		v &= 1<<k - 1
	}
	w.acc |= v << w.n
	w.n += k
	for w.n >= 8 {
		w.b = append(w.b, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// put64 appends the low k ≤ 64 bits of v.
func (w *bitAppender) put64(v uint64, k uint) {
	if k > 32 {
		w.put(v, 32)
		v, k = v>>32, k-32
	}
	w.put(v, k)
}

func (w *bitAppender) flush() []byte {
	if w.n > 0 {
		w.b = append(w.b, byte(w.acc))
	}
	return w.b
}

// appendRice appends d Rice-coded with parameter k.
func appendRice(b []byte, d []int64, k uint, unsigned bool) []byte {
	if len(d) == 0 {
		return b
	}
	w := bitAppender{b: binary.AppendUvarint(b, zig(d[0]))}
	for _, v := range d[1:] {
		z := riceMap(v, unsigned)
		q := z >> k
		if q >= riceEscape {
			w.put(1<<riceEscape-1, riceEscape)
			l := uint(bits.Len64(z))
			w.put(uint64(l), 7)
			w.put64(z, l)
			continue
		}
		w.put(1<<q-1, uint(q)+1)
		w.put64(z, k)
	}
	return w.flush()
}

// bitTaker reads bits least significant first.
type bitTaker struct {
	b   []byte
	pos int
	acc uint64
	n   uint
}

func (r *bitTaker) fill() {
	for r.n <= 56 && r.pos < len(r.b) {
		r.acc |= uint64(r.b[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
}

// take reads k ≤ 56 bits.
func (r *bitTaker) take(k uint) (uint64, bool) {
	if r.n < k {
		r.fill()
		if r.n < k {
			return 0, false
		}
	}
	v := r.acc & (1<<k - 1)
	r.acc >>= k
	r.n -= k
	return v, true
}

func (r *bitTaker) take64(k uint) (uint64, bool) {
	if k <= 32 {
		return r.take(k)
	}
	lo, ok1 := r.take(32)
	hi, ok2 := r.take(k - 32)
	return lo | hi<<32, ok1 && ok2
}

// decodeRice fills out from the Rice bits at the start of b and returns
// the bytes they take.
func decodeRice(out []int64, b []byte, k uint, unsigned bool) (int, bool) {
	r := bitTaker{b: b}
	for i := range out {
		if r.n < riceEscape+1 {
			r.fill()
		}
		q := uint(bits.TrailingZeros64(^r.acc))
		if q > r.n {
			q = r.n
		}
		var z uint64
		switch {
		case q >= riceEscape:
			r.acc >>= riceEscape
			r.n -= riceEscape
			l, ok := r.take(7)
			if !ok || l > 64 {
				return 0, false
			}
			if z, ok = r.take64(uint(l)); !ok {
				return 0, false
			}
		case q == r.n:
			return 0, false // no terminating 0 bit
		default:
			r.acc >>= q + 1
			r.n -= q + 1
			low, ok := r.take64(k)
			if !ok {
				return 0, false
			}
			z = uint64(q)<<k | low
		}
		out[i] = riceUnmap(z, unsigned)
	}
	return r.pos - int(r.n/8), true
}
