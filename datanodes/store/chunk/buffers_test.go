package chunk

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDecodeIntoProperty: decoding into one Buffers and one Block, reused
// across chunks of every kind and size, gives what Decode gives, and a
// damaged or truncated chunk is an ErrCorrupt error in both.
func TestDecodeIntoProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var bs Buffers
	var got Block
	for i := range 3000 {
		blk := randomBlock(r)
		b, err := Encode(nil, blk, Options{Fast: i%3 == 0})
		if err != nil {
			t.Fatal(err)
		}
		if err := bs.DecodeInto(&got, b); err != nil {
			t.Fatal(err)
		}
		sameBlock(t, blk, &got)
		bad := slices.Clone(b)
		if r.IntN(2) == 0 {
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
		} else {
			bad = bad[:r.IntN(len(bad))]
		}
		if err := bs.DecodeInto(&got, bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged chunk: err %v", err)
		}
		// Past the checksum too.
		body := slices.Clone(b[:len(b)-4])
		body[r.IntN(len(body))] = byte(r.Uint32())
		_, want := Decode(seal(body))
		err = bs.DecodeInto(&got, seal(body))
		if (err == nil) != (want == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Fatalf("damaged body: DecodeInto %v, Decode %v", err, want)
		}
	}
}

// TestFrameIntoMatchesFrame: a frame's columns read into reused buffers
// equal those read by ReadFrame, and a nested chunk decodes in place.
func TestFrameIntoMatchesFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var bs Buffers
	var ints []int64
	var floats []float64
	var nested Block
	for i := range 500 {
		n := 1 + r.IntN(300)
		is := make([]int64, n)
		fs := make([]float64, n)
		for k := range is {
			is[k] = int64(k)*1000 + r.Int64N(3)
			fs[k] = float64(r.IntN(100000)) / 1000
		}
		blk := randomBlock(r)
		cb, err := Encode(nil, blk, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f := NewFrame('T', Options{Fast: i%2 == 0})
		f.Uvarint(uint64(n))
		f.Ints(is)
		f.Floats(fs)
		f.Bytes(cb)
		b := f.Finish()
		fr, err := bs.ReadFrame(b, 'T')
		if err != nil {
			t.Fatal(err)
		}
		if got := fr.Uvarint(); got != uint64(n) {
			t.Fatalf("count %d, want %d", got, n)
		}
		ints, floats = fr.IntsInto(ints, n), fr.FloatsInto(floats, n)
		if err := fr.ChunkInto(&nested); err != nil {
			t.Fatal(err)
		}
		if err := fr.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ints, is) || !slices.Equal(floats, fs) {
			t.Fatalf("frame %d: columns differ", i)
		}
		sameBlock(t, blk, &nested)
		if _, err := bs.ReadFrame(b[:len(b)-1], 'T'); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated frame: %v", err)
		}
	}
}
