package sqlite

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// A rollup row keeps its summary in one BLOB column rather than ten, since
// reading a column through cgo and database/sql costs far more than
// decoding a few bytes: a month of minute rows reads about 5x faster.
//
// Layout: a flags byte (bit 0: the cell has numbers; bits 1-2: the type of
// the last value, 0 number, 1 bool, 2 string; bit 3: a true last bool),
// then uvarints count and nums, uvarints first_ts, last_ts relative to the
// bucket start, and when there are numbers float64 sum, min and max
// (little endian) and uvarints min_ts and max_ts relative to the bucket
// start; then the last value: 8 bytes for a number, the rest of the blob
// for a string.
const (
	flagNums     = 1 << 0
	flagLastBool = 1 << 1
	flagLastStr  = 2 << 1
	flagTrue     = 1 << 3
	lastTypeMask = 3 << 1
)

var errBadCell = errors.New("malformed rollup cell")

func encodeCell(bucket int64, c downsample.Cell) []byte {
	b := make([]byte, 1, 64)
	var flags byte
	if c.Nums > 0 {
		flags |= flagNums
	}
	switch c.Last.Type {
	case protocol.TypeBool:
		flags |= flagLastBool
		if c.Last.Bool {
			flags |= flagTrue
		}
	case protocol.TypeString:
		flags |= flagLastStr
	}
	b[0] = flags
	b = binary.AppendUvarint(b, uint64(c.Count))
	b = binary.AppendUvarint(b, uint64(c.Nums))
	b = binary.AppendUvarint(b, uint64(c.First-bucket))
	b = binary.AppendUvarint(b, uint64(c.LastT-bucket))
	if c.Nums > 0 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Sum))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Min))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Max))
		b = binary.AppendUvarint(b, uint64(c.MinT-bucket))
		b = binary.AppendUvarint(b, uint64(c.MaxT-bucket))
	}
	switch c.Last.Type {
	case protocol.TypeString:
		b = append(b, c.Last.Str...)
	case protocol.TypeBool:
	default:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Last.Num))
	}
	return b
}

func decodeCell(bucket int64, b []byte) (downsample.Cell, error) {
	var c downsample.Cell
	if len(b) == 0 {
		return c, errBadCell
	}
	flags := b[0]
	b = b[1:]
	var vals [4]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, errBadCell
		}
		vals[i], b = v, b[n:]
	}
	c.Count, c.Nums = int64(vals[0]), int64(vals[1])
	c.First, c.LastT = bucket+int64(vals[2]), bucket+int64(vals[3])
	c.NonNum = c.Count > c.Nums
	if flags&flagNums != 0 {
		if len(b) < 24 {
			return c, errBadCell
		}
		c.Sum = math.Float64frombits(binary.LittleEndian.Uint64(b))
		c.Min = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		c.Max = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
		b = b[24:]
		for _, p := range []*int64{&c.MinT, &c.MaxT} {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return c, errBadCell
			}
			*p, b = bucket+int64(v), b[n:]
		}
	}
	switch flags & lastTypeMask {
	case 0:
		if len(b) != 8 {
			return c, errBadCell
		}
		c.Last = protocol.Num(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case flagLastBool:
		c.Last = protocol.Bool(flags&flagTrue != 0)
	case flagLastStr:
		c.Last = protocol.Str(string(b))
	default:
		return c, errBadCell
	}
	return c, nil
}
