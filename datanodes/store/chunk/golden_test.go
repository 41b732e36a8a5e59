package chunk

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/internal/testutil"
)

// goldenBlocks are the blocks of the golden chunk files: every kind and
// number form, as written with and without zstd.
func goldenBlocks() []*Block {
	r := rand.New(rand.NewPCG(11, 12))
	blocks := []*Block{
		benchBlocks(0, 8192)[3],
		benchBlocks(benchdata.StepField, 8192)[1],
		benchBlocks(4, 1000)[7],
		{Times: seq(5, 0, 1), Nums: []float64{21.234, math.Copysign(0, -1), 5e-324, 1 << 60, math.NaN()}},
		{Times: []int64{math.MinInt64, -1, 0, math.MaxInt64}, Nums: []float64{math.MaxFloat64, 1e-300, math.Inf(-1), 9007199254740993}},
		{Times: seq(6, 1e18, 1e9), Strs: []string{"idle", "idle", "run", "", "idle", "ünï"}},
		{Times: seq(5, 1e18, 3e9), Bools: []bool{true, true, false, true, false}},
		{Times: seq(6, 7, 1), Nums: []float64{1, 2}, Strs: []string{"a"}, Bools: []bool{true, false, true},
			Kinds: []Kind{Number, Bool, String, Bool, Number, Bool}},
	}
	var sums []float64
	for i := range 300 {
		var s float64
		for k := range 10 {
			s += benchdata.Value(1, int64(i*10+k))
		}
		sums = append(sums, s)
	}
	blocks = append(blocks, &Block{Times: seq(len(sums), 1e18, 1e10), Nums: sums})
	for range 6 {
		blocks = append(blocks, randomBlock(r))
	}
	return blocks
}

// TestGoldenFormat1 decodes chunks written by the first chunk format
// (version byte 1, the format of the first schema 2 release): what was
// written then reads back bit for bit. testdata/format1.chunks holds, for
// each of goldenBlocks, its chunk with zstd and without (Options.Fast),
// each as a uvarint length and the bytes, as that release's Encode wrote
// them.
func TestGoldenFormat1(t *testing.T) {
	blocks := goldenBlocks()
	recs := testutil.Records(t, filepath.Join("testdata", "format1.chunks"))
	for i, c := range recs {
		if c[0] != 1 {
			t.Fatalf("chunk %d: version %d, want 1", i, c[0])
		}
		got, err := Decode(c)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		sameBlock(t, blocks[i/2], got)
	}
	if len(recs) != 2*len(blocks) {
		t.Fatalf("%d golden chunks, want %d", len(recs), 2*len(blocks))
	}
}

// TestBenchDataSize: a sealed chunk of a bench sensor field's readings
// costs about the entropy of its noise (format 1 took 0.895 B a reading,
// the deltas' entropy; the mean predictor's residuals take less).
func TestBenchDataSize(t *testing.T) {
	var bytes, n int
	for _, blk := range benchBlocks(0, 8192) {
		c, err := Encode(nil, blk, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c[0] != version {
			t.Fatalf("version %d", c[0])
		}
		bytes, n = bytes+len(c), n+blk.Len()
	}
	if per := float64(bytes) / float64(n); per > 0.83 {
		t.Errorf("%.3f B a reading, want at most 0.83", per)
	}
}
