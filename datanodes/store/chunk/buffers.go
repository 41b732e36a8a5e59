package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Buffers is the memory a reader that decodes many chunks or frames in a
// row (a query) reuses from one to the next, instead of allocating each
// column anew. What a decode into Buffers returns shares their memory: it
// stays valid only until the next decode with the same Buffers. The zero
// value is ready to use; a Buffers is not safe for concurrent use.
type Buffers struct {
	zstd  [][]byte // zstd outputs, one per compressed section of a decode
	nz    int
	ints  []int64 // mantissas and corrections of decimal number columns
	ints2 []int64
	frame FrameReader
}

// reset makes every buffer free for the next decode.
func (bs *Buffers) reset() { bs.nz = 0 }

// section is readSection writing a compressed body into a reused buffer.
func (bs *Buffers) section(b []byte) (body, rest []byte, err error) {
	if len(b) < 2 || b[0] != zstdd {
		return readSection(b)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, errCorrupt
	}
	body, rest = b[1+k:1+k+int(n)], b[1+k+int(n):]
	if bs.nz == len(bs.zstd) {
		bs.zstd = append(bs.zstd, nil)
	}
	out, err := decoder().DecodeAll(body, bs.zstd[bs.nz][:0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	bs.zstd[bs.nz] = out
	bs.nz++
	return out, rest, nil
}

// DecodeInto decodes a chunk made by Encode into blk, reusing the memory
// of blk's slices and of bs: it gives the same block as Decode, valid
// until blk or bs is used again.
func (bs *Buffers) DecodeInto(blk *Block, b []byte) error {
	bs.reset()
	if err := bs.decode(blk, b); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

func (bs *Buffers) decode(blk *Block, b []byte) error {
	if err := Verify(b); err != nil {
		return err
	}
	b = b[:len(b)-4]
	if b[0] != 1 && b[0] != version { // format 1 differs only in the forms DecodeInts reads
		return fmt.Errorf("unknown chunk version %d", b[0])
	}
	b = b[1:]
	var counts [4]uint64
	for i := range counts {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return errCorrupt
		}
		counts[i], b = v, b[k:]
	}
	n := counts[0]
	if n > MaxReadings || counts[1]+counts[2]+counts[3] != n {
		return errCorrupt
	}
	*blk = Block{Times: blk.Times[:0], Nums: blk.Nums[:0], Bools: blk.Bools[:0]}
	body, b, err := bs.section(b)
	if err != nil {
		return err
	}
	if blk.Times, _, err = DecodeInts(blk.Times, body, int(n)); err != nil {
		return err
	}
	kinds := 0
	for _, c := range counts[1:] {
		if c > 0 {
			kinds++
		}
	}
	if kinds > 1 {
		if body, b, err = bs.section(b); err != nil {
			return err
		}
		if blk.Kinds, err = decodeKinds(body, int(n)); err != nil {
			return err
		}
	}
	if c := int(counts[1]); c > 0 {
		if body, b, err = bs.section(b); err != nil {
			return err
		}
		if blk.Nums, _, err = bs.floats(blk.Nums, body, c); err != nil {
			return err
		}
	} else {
		blk.Nums = nil
	}
	if c := int(counts[2]); c > 0 {
		if body, b, err = bs.section(b); err != nil {
			return err
		}
		if blk.Strs, err = decodeStrings(body, c); err != nil {
			return err
		}
	}
	if c := int(counts[3]); c > 0 {
		if body, b, err = bs.section(b); err != nil {
			return err
		}
		if bs.ints, _, err = DecodeInts(bs.ints, body, c); err != nil {
			return err
		}
		blk.Bools = blk.Bools[:0]
		for _, v := range bs.ints {
			blk.Bools = append(blk.Bools, v != 0)
		}
	} else {
		blk.Bools = nil
	}
	if len(b) != 0 {
		return errCorrupt
	}
	return blk.Check()
}

// floats is DecodeFloats with the integer columns of the decimal forms
// decoded into bs's buffers.
func (bs *Buffers) floats(dst []float64, b []byte, n int) ([]float64, []byte, error) {
	if len(b) < 2 || (b[0] != floatDecimal && b[0] != floatNearDec) {
		return DecodeFloats(dst, b, n)
	}
	out := dst[:0]
	if cap(out) < n {
		out = make([]float64, 0, n)
	}
	k := int(int8(b[1]))
	if k < -maxExp || k > maxExp || (b[0] == floatNearDec && k < 0) {
		return nil, nil, errCorrupt
	}
	var err error
	var rest []byte
	if bs.ints, rest, err = DecodeInts(bs.ints, b[2:], n); err != nil {
		return nil, nil, err
	}
	if b[0] == floatDecimal {
		for _, m := range bs.ints {
			out = append(out, fromDecimal(m, k))
		}
		return out, rest, nil
	}
	if bs.ints2, rest, err = DecodeInts(bs.ints2, rest, n); err != nil {
		return nil, nil, err
	}
	for i, m := range bs.ints {
		out = append(out, nearDecimal(m, k, bs.ints2[i]))
	}
	return out, rest, nil
}

// ReadFrame is the package's ReadFrame decoding the frame's compressed
// body into bs. The reader's columns are read with IntsInto and
// FloatsInto; all share bs's memory.
func (bs *Buffers) ReadFrame(b []byte, tag byte) (*FrameReader, error) {
	bs.reset()
	if err := Verify(b); err != nil {
		return nil, err
	}
	if b[0] != tag {
		return nil, fmt.Errorf("%w: tag %d, want %d", ErrCorrupt, b[0], tag)
	}
	body, rest, err := bs.section(b[1 : len(b)-4])
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	bs.frame = FrameReader{b: body, bufs: bs}
	return &bs.frame, nil
}

// IntsInto reads an integer column of n values into dst's memory.
func (r *FrameReader) IntsInto(dst []int64, n int) []int64 {
	body := r.section()
	if r.err != nil {
		return dst[:0]
	}
	vs, rest, err := DecodeInts(dst, body, n)
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	r.err = err
	return vs
}

// ChunkInto reads a section holding a chunk made by Encode into blk, as
// Buffers.DecodeInto does, sharing the frame's buffers.
func (r *FrameReader) ChunkInto(blk *Block) error {
	body := r.section()
	if r.err != nil {
		return r.err
	}
	bs := r.bufs
	if bs == nil {
		bs = &Buffers{}
	}
	if err := bs.decode(blk, body); err != nil {
		r.err = err
	}
	return r.err
}

// FloatsInto reads a number column of n values into dst's memory.
func (r *FrameReader) FloatsInto(dst []float64, n int) []float64 {
	body := r.section()
	if r.err != nil {
		return dst[:0]
	}
	bs := r.bufs
	if bs == nil {
		bs = &Buffers{}
	}
	vs, rest, err := bs.floats(dst, body, n)
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	r.err = err
	return vs
}

// nearDecimal returns the value of the near-decimal form: m·10^-k moved by
// corr units in the last place.
func nearDecimal(m int64, k int, corr int64) float64 {
	return math.Float64frombits(uint64(int64(math.Float64bits(fromDecimal(m, k))) + corr))
}

// zstdWindow is the zstd encoder's window: sections are at most a chunk's
// column (8 bytes a reading) or a rollup page, so a window of 256 KiB
// compresses them as well as the default 8 MiB one, and the encoder keeps
// about 8 MiB less history in the node's heap.
const zstdWindow = 1 << 18
