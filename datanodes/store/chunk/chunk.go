// Package chunk codes runs of readings of one field, and columns of
// numbers and integers, into compact checksummed byte strings: the chunks
// the SQLite store keeps as BLOBs.
//
// A Block is a field's readings in time order; Encode writes its times as
// an integer column (deltas of deltas, so regular sampling costs next to
// nothing), its numbers in the smallest of a decimal, an XOR and a raw
// form (see AppendFloats), its strings as a dictionary and indexes and its
// bools as runs, each column further compressed with zstd when that pays.
// A CRC32C over the whole chunk makes a corrupt or truncated chunk an
// error from Decode, never a crash or wrong values.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ErrCorrupt is the error (wrapped) of decoding a damaged chunk.
var ErrCorrupt = errors.New("corrupt chunk")

// Kind is the type of a reading's value.
type Kind uint8

// Kinds of values.
const (
	Number Kind = iota
	String
	Bool
)

// Block is readings of one field in ascending time order. Values of each
// kind are kept in their own slice, in row order; Kinds gives the kind of
// each row when the block mixes kinds. Otherwise every row is of the kind
// whose slice is not empty, and Decode leaves Kinds nil.
type Block struct {
	Times []int64
	Nums  []float64
	Strs  []string
	Bools []bool
	Kinds []Kind
}

// Len returns the number of readings.
func (b *Block) Len() int { return len(b.Times) }

// KindAt returns the kind of row i.
func (b *Block) KindAt(i int) Kind {
	switch {
	case b.Kinds != nil:
		return b.Kinds[i]
	case len(b.Strs) > 0:
		return String
	case len(b.Bools) > 0:
		return Bool
	}
	return Number
}

// mixed reports whether the block holds more than one kind of value.
func (b *Block) mixed() bool {
	kinds := 0
	for _, k := range []int{len(b.Nums), len(b.Strs), len(b.Bools)} {
		if k > 0 {
			kinds++
		}
	}
	return kinds > 1
}

// Check reports a block whose slices do not add up.
func (b *Block) Check() error {
	n := len(b.Nums) + len(b.Strs) + len(b.Bools)
	if n != len(b.Times) {
		return fmt.Errorf("block of %d times has %d values", len(b.Times), n)
	}
	if n > MaxReadings {
		return fmt.Errorf("block of %d readings, more than %d", n, MaxReadings)
	}
	for i := 1; i < n; i++ {
		if b.Times[i] <= b.Times[i-1] {
			return fmt.Errorf("block times not ascending at row %d", i)
		}
	}
	kinds := 0
	for _, k := range []int{len(b.Nums), len(b.Strs), len(b.Bools)} {
		if k > 0 {
			kinds++
		}
	}
	if b.Kinds == nil && kinds > 1 {
		return errors.New("block mixes kinds without Kinds")
	}
	if b.Kinds != nil {
		if len(b.Kinds) != n {
			return fmt.Errorf("block of %d times has %d kinds", n, len(b.Kinds))
		}
		var c [3]int
		for _, k := range b.Kinds {
			if k > Bool {
				return fmt.Errorf("unknown kind %d", k)
			}
			c[k]++
		}
		if c[Number] != len(b.Nums) || c[String] != len(b.Strs) || c[Bool] != len(b.Bools) {
			return errors.New("block kinds do not match its values")
		}
	}
	return nil
}

// MaxReadings bounds the readings of one block.
const MaxReadings = 1 << 20

// Options tune Encode.
type Options struct {
	// Fast skips zstd and sizes fewer forms of integer columns (deltas
	// and deltas of deltas), for a write head that is rewritten often.
	Fast bool
	// Rice, with Fast, sizes every form, the Rice forms included: for a
	// small chunk no zstd follows, such as one inside a rollup page.
	// They need no table, but take more to size and decode than the byte
	// forms, which zstd compresses better.
	Rice bool
}

// version is the chunk format Encode writes. Format 2 adds the mean and
// Rice forms of integer columns; Decode reads formats 1 and 2.
const version = 2

// section flags
const (
	plain = 0
	zstdd = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	zonce sync.Once
	zfast *zstd.Encoder // for frames: small, mostly matches or nothing
	zdec  *zstd.Decoder
	// zenc holds the encoder for chunks, whose literals need entropy
	// coding (see idleEncoder).
	zenc = idleEncoder{idle: 30 * time.Second}
)

// maxDecoded bounds what one zstd section may expand to, so a damaged
// length cannot make Decode allocate without limit.
const maxDecoded = 64 << 20

func decoder() *zstd.Decoder {
	codecsOnce()
	return zdec
}

func codecsOnce() {
	zonce.Do(func() {
		var err error
		// On a rollup page's 1–2 KB, the fastest level compresses what
		// the better one does (matches in step-like columns; the Rice-coded
		// noise is beyond both) in a twentieth of the time.
		zfast, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err)
		}
		zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecoded),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err)
		}
	})
}

// appendSection appends body as a section: a flags byte, a uvarint length
// and the bytes, compressed with zstd when that saves an eighth or more.
func appendSection(b, body []byte, o Options) []byte {
	if o.Fast || len(body) < minZstd {
		return appendSectionWith(b, body, o, nil)
	}
	enc := zenc.get()
	defer zenc.put(enc)
	return appendSectionWith(b, body, o, enc)
}

// idleEncoder keeps one zstd encoder at the level that codes chunks best
// while it is in use and drops it after idle without use: that level
// keeps 4 MB of match tables, which a node sealing a chunk a quarter of
// an hour would otherwise hold for good, and a backfill sealing many a
// second would otherwise allocate again and again.
type idleEncoder struct {
	idle  time.Duration
	mu    sync.Mutex
	enc   *zstd.Encoder // nil while lent out or dropped
	used  time.Time     // when enc was last put back
	timer *time.Timer   // drops enc once idle
}

// get returns the kept encoder, or a new one when it is lent out (to a
// concurrent store) or was dropped.
func (e *idleEncoder) get() *zstd.Encoder {
	e.mu.Lock()
	enc := e.enc
	e.enc = nil
	e.mu.Unlock()
	if enc != nil {
		return enc
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		panic(err) // only bad options fail
	}
	return enc
}

// put keeps enc for the next get, unless another is kept already.
func (e *idleEncoder) put(enc *zstd.Encoder) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		return
	}
	e.enc, e.used = enc, time.Now()
	if e.timer == nil {
		e.timer = time.AfterFunc(e.idle, e.drop)
	} else {
		e.timer.Reset(e.idle)
	}
}

// drop lets the collector have the kept encoder once it has been idle.
func (e *idleEncoder) drop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil && time.Since(e.used) >= e.idle {
		e.enc = nil
	}
}

// minZstd is the smallest section body worth trying zstd on.
const minZstd = 64

// appendSectionWith is appendSection with the zstd encoder enc.
func appendSectionWith(b, body []byte, o Options, enc *zstd.Encoder) []byte {
	if !o.Fast && len(body) >= minZstd {
		z := enc.EncodeAll(body, nil)
		if len(z) < len(body)-len(body)/8 {
			b = append(b, zstdd)
			b = binary.AppendUvarint(b, uint64(len(z)))
			return append(b, z...)
		}
	}
	b = append(b, plain)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// readSection returns the body of the section at the start of b and the
// bytes after it.
func readSection(b []byte) (body, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errCorrupt
	}
	flags := b[0]
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, errCorrupt
	}
	body, rest = b[1+k:1+k+int(n)], b[1+k+int(n):]
	switch flags {
	case plain:
		return body, rest, nil
	case zstdd:
		out, err := decoder().DecodeAll(body, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return out, rest, nil
	}
	return nil, nil, errCorrupt
}

// Encode appends the chunk of blk to dst.
func Encode(dst []byte, blk *Block, o Options) ([]byte, error) {
	if err := blk.Check(); err != nil {
		return nil, err
	}
	start := len(dst)
	b := append(dst, version)
	b = binary.AppendUvarint(b, uint64(len(blk.Times)))
	b = binary.AppendUvarint(b, uint64(len(blk.Nums)))
	b = binary.AppendUvarint(b, uint64(len(blk.Strs)))
	b = binary.AppendUvarint(b, uint64(len(blk.Bools)))
	m := modeBytes
	if o.Fast {
		m = modeQuick
		if o.Rice {
			m = modeRice
		}
	}
	var body []byte
	body = appendInts(body[:0], blk.Times, m)
	b = appendSection(b, body, o)
	if blk.mixed() {
		b = appendSection(b, appendKinds(body[:0], blk.Kinds), o)
	}
	if len(blk.Nums) > 0 {
		b = appendSection(b, appendFloats(body[:0], blk.Nums, m), o)
	}
	if len(blk.Strs) > 0 {
		b = appendSection(b, appendStrings(body[:0], blk.Strs, m), o)
	}
	if len(blk.Bools) > 0 {
		ints := make([]int64, len(blk.Bools))
		for i, v := range blk.Bools {
			if v {
				ints[i] = 1
			}
		}
		b = appendSection(b, appendInts(body[:0], ints, m), o)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// Decode decodes a chunk made by Encode.
func Decode(b []byte) (*Block, error) {
	blk, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return blk, nil
}

// Verify checks a chunk's checksum without decoding it.
func Verify(b []byte) error {
	if len(b) < 5 {
		return fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return nil
}

func decode(b []byte) (*Block, error) {
	// A Buffers of its own: the block shares no memory with anyone.
	var bs Buffers
	blk := &Block{}
	if err := bs.decode(blk, b); err != nil {
		return nil, err
	}
	return blk, nil
}

func appendKinds(b []byte, ks []Kind) []byte {
	for i := 0; i < len(ks); {
		j := i
		for j < len(ks) && ks[j] == ks[i] {
			j++
		}
		b = append(b, byte(ks[i]))
		b = binary.AppendUvarint(b, uint64(j-i))
		i = j
	}
	return b
}

func decodeKinds(b []byte, n int) ([]Kind, error) {
	out := make([]Kind, 0, n)
	for len(out) < n {
		if len(b) < 2 || b[0] > byte(Bool) {
			return nil, errCorrupt
		}
		k := Kind(b[0])
		run, w := binary.Uvarint(b[1:])
		if w <= 0 || run == 0 || run > uint64(n-len(out)) {
			return nil, errCorrupt
		}
		b = b[1+w:]
		for range run {
			out = append(out, k)
		}
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return out, nil
}

// appendStrings writes strings as a dictionary of the distinct values in
// order of first use, then the integer column of their indexes.
func appendStrings(b []byte, ss []string, m mode) []byte {
	index := map[string]int64{}
	idx := make([]int64, len(ss))
	var dict []string
	for i, s := range ss {
		j, ok := index[s]
		if !ok {
			j = int64(len(dict))
			index[s] = j
			dict = append(dict, s)
		}
		idx[i] = j
	}
	b = binary.AppendUvarint(b, uint64(len(dict)))
	for _, s := range dict {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return appendInts(b, idx, m)
}

func decodeStrings(b []byte, n int) ([]string, error) {
	nd, k := binary.Uvarint(b)
	if k <= 0 || nd > uint64(len(b)) || nd > uint64(n) {
		return nil, errCorrupt
	}
	b = b[k:]
	dict := make([]string, nd)
	for i := range dict {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errCorrupt
		}
		dict[i] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	idx, rest, err := DecodeInts(nil, b, n)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errCorrupt
	}
	out := make([]string, n)
	for i, j := range idx {
		if j < 0 || j >= int64(nd) {
			return nil, errCorrupt
		}
		out[i] = dict[j]
	}
	return out, nil
}
