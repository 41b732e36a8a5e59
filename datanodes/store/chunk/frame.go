package chunk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Frame builds a checksummed record of columns, for records other than
// readings, such as rollup pages: a tag byte, then the columns as one
// section, compressed with zstd as a whole when that pays (one zstd frame
// per record decodes much faster than one per column). The reader must
// know the columns' order and lengths.
type Frame struct {
	tag  byte
	body []byte
	col  []byte // the column being coded
	out  []byte // what Finish returned
	o    Options
}

var plainSection = Options{Fast: true}

// NewFrame starts a frame whose first byte is tag.
func NewFrame(tag byte, o Options) *Frame { return &Frame{tag: tag, o: o} }

// Reset starts a new frame whose first byte is tag in f's memory, for a
// writer that codes many: the bytes f's last Finish returned are reused.
func (f *Frame) Reset(tag byte, o Options) { f.tag, f.o, f.body = tag, o, f.body[:0] }

// Uvarint appends a number.
func (f *Frame) Uvarint(v uint64) { f.body = binary.AppendUvarint(f.body, v) }

// mode is how the frame's columns are coded: in every form, the Rice
// ones included, unless the frame is Fast.
func (f *Frame) mode() mode {
	if f.o.Fast {
		return modeQuick
	}
	return modeRice
}

// Ints appends an integer column.
func (f *Frame) Ints(vs []int64) {
	f.col = appendInts(f.col[:0], vs, f.mode())
	f.body = appendSection(f.body, f.col, plainSection)
}

// Floats appends a number column.
func (f *Frame) Floats(vs []float64) {
	f.col = appendFloats(f.col[:0], vs, f.mode())
	f.body = appendSection(f.body, f.col, plainSection)
}

// Bytes appends an opaque section.
func (f *Frame) Bytes(p []byte) { f.body = appendSection(f.body, p, plainSection) }

// Finish returns the frame with its checksum. The bytes are f's until
// its next Reset.
func (f *Frame) Finish() []byte {
	codecsOnce()
	b := appendSectionWith(append(f.out[:0], f.tag), f.body, f.o, zfast)
	f.out = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return f.out
}

// FrameReader reads a frame made by Frame.
type FrameReader struct {
	b    []byte
	err  error
	bufs *Buffers // from Buffers.ReadFrame, else nil
}

// ReadFrame checks a frame's checksum and tag.
func ReadFrame(b []byte, tag byte) (*FrameReader, error) {
	if err := Verify(b); err != nil {
		return nil, err
	}
	if b[0] != tag {
		return nil, fmt.Errorf("%w: tag %d, want %d", ErrCorrupt, b[0], tag)
	}
	body, rest, err := readSection(b[1 : len(b)-4])
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &FrameReader{b: body}, nil
}

// Uvarint reads a number.
func (r *FrameReader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *FrameReader) section() []byte {
	if r.err != nil {
		return nil
	}
	body, rest, err := readSection(r.b)
	if err != nil {
		r.err = err
		return nil
	}
	r.b = rest
	return body
}

// Ints reads an integer column of n values.
func (r *FrameReader) Ints(n int) []int64 {
	body := r.section()
	if r.err != nil {
		return nil
	}
	vs, rest, err := DecodeInts(nil, body, n)
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	r.err = err
	return vs
}

// Floats reads a number column of n values.
func (r *FrameReader) Floats(n int) []float64 {
	body := r.section()
	if r.err != nil {
		return nil
	}
	vs, rest, err := DecodeFloats(nil, body, n)
	if err == nil && len(rest) != 0 {
		err = errCorrupt
	}
	r.err = err
	return vs
}

// Bytes reads an opaque section.
func (r *FrameReader) Bytes() []byte { return r.section() }

// Err returns the first error, or one when bytes are left over.
func (r *FrameReader) Err() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, r.err)
	}
	return nil
}
