package chunk

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/telemesh/telemesh/datanodes/store/benchdata"
)

// sameBlock compares blocks bit for bit (NaN payloads and -0 included).
func sameBlock(t testing.TB, want, got *Block) {
	t.Helper()
	if !slices.Equal(want.Times, got.Times) {
		t.Fatalf("times differ:\nwant %v\n got %v", head(want.Times), head(got.Times))
	}
	if len(want.Nums) != len(got.Nums) {
		t.Fatalf("%d numbers, want %d", len(got.Nums), len(want.Nums))
	}
	for i := range want.Nums {
		if math.Float64bits(want.Nums[i]) != math.Float64bits(got.Nums[i]) {
			t.Fatalf("number %d: got %v (%#x), want %v (%#x)", i, got.Nums[i], math.Float64bits(got.Nums[i]), want.Nums[i], math.Float64bits(want.Nums[i]))
		}
	}
	if !slices.Equal(want.Strs, got.Strs) || !slices.Equal(want.Bools, got.Bools) || !slices.Equal(want.Kinds, got.Kinds) {
		t.Fatalf("strings, bools or kinds differ")
	}
}

func head[T any](s []T) []T { return s[:min(len(s), 8)] }

func roundTrip(t testing.TB, blk *Block, o Options) []byte {
	t.Helper()
	b, err := Encode(nil, blk, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	sameBlock(t, blk, got)
	return b
}

func seq(n int, t0, step int64) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = t0 + int64(i)*step
	}
	return ts
}

func TestRoundTrip(t *testing.T) {
	const ns = int64(1e9)
	t0 := int64(1764547200) * ns
	nan := math.Float64frombits(0x7ff8dead0000beef)
	tests := []struct {
		name string
		blk  Block
	}{
		{"empty", Block{}},
		{"one", Block{Times: []int64{t0}, Nums: []float64{21.5}}},
		{"decimal", Block{Times: seq(5, t0, ns), Nums: []float64{21.234, 21.235, 21.2, -3.001, 0}}},
		{"negative zero", Block{Times: seq(3, t0, ns), Nums: []float64{1.5, math.Copysign(0, -1), 2}}},
		{"nan payloads and infinities", Block{Times: seq(5, t0, ns), Nums: []float64{math.NaN(), nan, math.Inf(1), math.Inf(-1), 1}}},
		{"subnormals", Block{Times: seq(4, t0, ns), Nums: []float64{5e-324, math.SmallestNonzeroFloat64 * 3, -2.2250738585072009e-308, 0}}},
		{"huge and tiny exponents", Block{Times: seq(4, t0, ns), Nums: []float64{math.MaxFloat64, -math.MaxFloat64, 1e-300, 1e300}}},
		{"integers beyond 2^53", Block{Times: seq(5, t0, ns), Nums: []float64{1 << 60, 1<<53 + 2, 9007199254740993, -(1 << 62), 1e20}}},
		{"large integer then fraction", Block{Times: seq(3, t0, ns), Nums: []float64{1e20, 0.5, 3}}},
		{"step integers", Block{Times: seq(1200, t0, ns), Nums: func() []float64 {
			v := make([]float64, 1200)
			for i := range v {
				v[i] = float64(15 + i/600)
			}
			return v
		}()}},
		{"irregular ns times", Block{Times: []int64{-5, 0, 1, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}, Nums: []float64{1, 2, 3, 4, 5, 6}}},
		{"extreme times", Block{Times: []int64{math.MinInt64, 0, math.MaxInt64}, Nums: []float64{1, 2, 3}}},
		{"strings", Block{Times: seq(6, t0, ns), Strs: []string{"idle", "idle", "run", "", "idle", "ünï"}}},
		{"bools", Block{Times: seq(5, t0, ns), Bools: []bool{true, true, false, true, false}}},
		{"mixed", Block{Times: seq(6, t0, ns), Nums: []float64{1, 2}, Strs: []string{"a"}, Bools: []bool{true, false, true},
			Kinds: []Kind{Number, Bool, String, Bool, Number, Bool}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roundTrip(t, &tc.blk, Options{})
			roundTrip(t, &tc.blk, Options{Fast: true})
			roundTrip(t, &tc.blk, Options{Fast: true, Rice: true})
		})
	}
}

func TestEncodeRefusesBadBlocks(t *testing.T) {
	for name, blk := range map[string]Block{
		"count mismatch": {Times: []int64{1, 2}, Nums: []float64{1}},
		"not ascending":  {Times: []int64{2, 1}, Nums: []float64{1, 2}},
		"duplicate time": {Times: []int64{1, 1}, Nums: []float64{1, 2}},
		"mixed no kinds": {Times: []int64{1, 2}, Nums: []float64{1}, Strs: []string{"a"}},
		"bad kinds":      {Times: []int64{1, 2}, Nums: []float64{1, 2}, Kinds: []Kind{Number, String}},
	} {
		if _, err := Encode(nil, &blk, Options{}); err == nil {
			t.Errorf("%s: Encode accepted %+v", name, blk)
		}
	}
}

// randomBlock makes a block mixing the shapes of value that stress the
// codecs: decimals, arbitrary bit patterns, repeats, runs and kinds.
func randomBlock(r *rand.Rand) *Block {
	n := r.IntN(600)
	blk := &Block{}
	t := r.Int64() >> r.IntN(64)
	mixed := r.IntN(4) == 0
	style := r.IntN(6)
	for i := range n {
		switch r.IntN(10) {
		case 0:
			t += r.Int64N(1 << 40)
		default:
			t += 1 + r.Int64N(3)
		}
		if len(blk.Times) > 0 && t <= blk.Times[len(blk.Times)-1] {
			break // wrapped
		}
		blk.Times = append(blk.Times, t)
		k := Number
		if mixed {
			k = Kind(r.IntN(3))
			blk.Kinds = append(blk.Kinds, k)
		}
		switch k {
		case Number:
			var v float64
			switch style {
			case 0:
				v = math.Round(r.NormFloat64()*1e4) / 1e3
			case 1:
				v = math.Float64frombits(r.Uint64())
			case 2:
				v = float64(i / 50)
			case 3:
				v = []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), 5e-324, 1 << 62, 1e22, 1e-22}[r.IntN(8)]
			case 4: // sums of decimals: near-decimal
				for range 1 + r.IntN(20) {
					v += float64(r.IntN(100000)) / 1000
				}
			default:
				v = r.Float64() * math.Pow(10, float64(r.IntN(40)-20))
			}
			blk.Nums = append(blk.Nums, v)
		case String:
			blk.Strs = append(blk.Strs, []string{"a", "bb", "", "state-" + string(rune('a'+r.IntN(26)))}[r.IntN(4)])
		case Bool:
			blk.Bools = append(blk.Bools, r.IntN(3) == 0)
		}
	}
	if !blk.mixed() {
		blk.Kinds = nil
	}
	return blk
}

func TestProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		blk := randomBlock(r)
		b := roundTrip(t, blk, Options{Fast: i%2 == 0, Rice: i%4 == 0})
		// Any single damaged byte or a truncation is detected.
		if len(b) > 0 {
			bad := slices.Clone(b)
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
			if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("damaged chunk: err %v", err)
			}
			if _, err := Decode(b[:r.IntN(len(b))]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated chunk: err %v", err)
			}
		}
	}
}

func TestColumnsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		n := r.IntN(300)
		ints := make([]int64, n)
		floats := make([]float64, n)
		for i := range ints {
			switch r.IntN(3) {
			case 0:
				ints[i] = r.Int64() - r.Int64()
			case 1:
				ints[i] = int64(i) * 1000
			default:
				ints[i] = 7
			}
			floats[i] = math.Float64frombits(uint64(ints[i]))
			if r.IntN(2) == 0 {
				floats[i] = float64(ints[i]) / 1000
			}
		}
		gi, rest, err := DecodeInts(nil, AppendInts(nil, ints), n)
		if err != nil || len(rest) != 0 || !slices.Equal(gi, ints) {
			t.Fatalf("ints %v: got %v, %v", head(ints), head(gi), err)
		}
		gf, rest, err := DecodeFloats(nil, AppendFloats(nil, floats), n)
		if err != nil || len(rest) != 0 {
			t.Fatalf("floats: %v", err)
		}
		for i := range floats {
			if math.Float64bits(gf[i]) != math.Float64bits(floats[i]) {
				t.Fatalf("float %d: got %#x want %#x", i, math.Float64bits(gf[i]), math.Float64bits(floats[i]))
			}
		}
	}
}

// seal appends a valid checksum to body, so damaged bodies reach the
// decoder past the checksum test.
func seal(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(slices.Clip(body), crc32.Checksum(body, castagnoli))
}

// FuzzDecode: no chunk body, however damaged, crashes Decode, and whatever
// decodes re-encodes to the same readings.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 16 {
		b, err := Encode(nil, randomBlock(r), Options{Fast: i >= 8, Rice: i >= 12})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:len(b)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		blk, err := Decode(seal(body))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		roundTrip(t, blk, Options{})
	})
}

func TestDamagedBodies(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 3000 {
		fast := r.IntN(2) == 0
		b, err := Encode(nil, randomBlock(r), Options{Fast: fast, Rice: fast && r.IntN(2) == 0})
		if err != nil {
			t.Fatal(err)
		}
		body := slices.Clone(b[:len(b)-4])
		for range 1 + r.IntN(3) {
			body[r.IntN(len(body))] = byte(r.Uint32())
		}
		if r.IntN(4) == 0 {
			body = body[:r.IntN(len(body))]
		}
		if _, err := Decode(seal(body)); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	}
}

// FuzzRoundTrip: numbers and times from arbitrary bytes round-trip.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\xf0\x7f\x01\x00\x00\x00\x00\x00\x00\x80"), int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, t0 int64, step uint8) {
		blk := &Block{}
		for i := 0; i+8 <= len(raw); i += 8 {
			u := uint64(raw[i]) | uint64(raw[i+1])<<8 | uint64(raw[i+2])<<16 | uint64(raw[i+3])<<24 |
				uint64(raw[i+4])<<32 | uint64(raw[i+5])<<40 | uint64(raw[i+6])<<48 | uint64(raw[i+7])<<56
			ts := t0 + int64(i/8)*int64(step+1)
			if len(blk.Times) > 0 && ts <= blk.Times[len(blk.Times)-1] {
				break
			}
			blk.Times = append(blk.Times, ts)
			blk.Nums = append(blk.Nums, math.Float64frombits(u))
		}
		roundTrip(t, blk, Options{})
	})
}

// benchBlocks returns one day of field i of the bench data in blocks of
// size readings.
func benchBlocks(i, size int) []*Block {
	const day = 86400
	t0 := int64(1764547200)
	var out []*Block
	for s := 0; s < day; s += size {
		blk := &Block{}
		for k := s; k < min(s+size, day); k++ {
			sec := t0 + int64(k)
			blk.Times = append(blk.Times, sec*1e9)
			blk.Nums = append(blk.Nums, benchdata.Value(i, sec))
		}
		out = append(out, blk)
	}
	return out
}

// BenchmarkEncode reports bytes per reading on a day of the bench data,
// per chunk size and kind of field.
func BenchmarkEncode(b *testing.B) {
	for _, size := range []int{1024, 4096, 8192} {
		for _, f := range []struct {
			name  string
			field int
		}{{"sensor", 0}, {"step", benchdata.StepField}} {
			blocks := benchBlocks(f.field, size)
			b.Run(f.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				var bytes, n int
				for b.Loop() {
					bytes, n = 0, 0
					for _, blk := range blocks {
						c, err := Encode(nil, blk, Options{})
						if err != nil {
							b.Fatal(err)
						}
						bytes += len(c)
						n += blk.Len()
					}
				}
				b.ReportMetric(float64(bytes)/float64(n), "B/reading")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range []struct {
		name  string
		field int
	}{{"sensor", 0}, {"step", benchdata.StepField}} {
		var chunks [][]byte
		n := 0
		for _, blk := range benchBlocks(f.field, 8192) {
			c, _ := Encode(nil, blk, Options{})
			chunks = append(chunks, c)
			n += blk.Len()
		}
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				for _, c := range chunks {
					if _, err := Decode(c); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
		})
	}
}

// TestNearDecimalSums: sums of decimal readings, a few units in the last
// place off a decimal, take the near-decimal form and come back exactly.
func TestNearDecimalSums(t *testing.T) {
	var sums []float64
	for i := range 256 {
		var s float64
		for k := range 10 {
			s += benchdata.Value(0, int64(i*10+k))
		}
		sums = append(sums, s)
	}
	b := AppendFloats(nil, sums)
	if b[0] != floatNearDec {
		t.Errorf("form %d, want near-decimal", b[0])
	}
	if per := float64(len(b)) / float64(len(sums)); per > 4 {
		t.Errorf("%.1f bytes per sum", per)
	}
	got, rest, err := DecodeFloats(nil, b, len(sums))
	if err != nil || len(rest) != 0 {
		t.Fatal(err)
	}
	for i := range sums {
		if math.Float64bits(got[i]) != math.Float64bits(sums[i]) {
			t.Fatalf("sum %d: %v, want %v", i, got[i], sums[i])
		}
	}
}
