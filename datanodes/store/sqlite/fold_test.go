package sqlite

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// TestFoldNumbers: the numbers' fold gives the cells that folding each
// reading's Point with Merge gives, bit for bit: NaN, -0, ties of the
// minimum and maximum, negative and extreme times included.
func TestFoldNumbers(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	specials := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1), 5e-324, 1.5, 1.5}
	for range 500 {
		n := r.IntN(400)
		tm := r.Int64() >> r.IntN(64)
		if r.IntN(2) == 0 {
			tm = -tm
		}
		var ts []int64
		var vs []float64
		for range n {
			step := 1 + r.Int64N(3e9)
			if r.IntN(20) == 0 {
				step = r.Int64N(1 << 50)
			}
			if tm > math.MaxInt64-step {
				break
			}
			tm += step
			ts = append(ts, tm)
			v := math.Round(r.NormFloat64()*1000) / 100
			if r.IntN(10) == 0 {
				v = specials[r.IntN(len(specials))]
			}
			vs = append(vs, v)
		}
		w := []int64{1, 10e9, 60e9, 86400e9, math.MaxInt64}[r.IntN(5)]
		var want []bucketCell
		for i, tt := range ts {
			b, c := downsample.Start(tt, w), downsample.Point(tt, protocol.Num(vs[i]))
			if k := len(want); k > 0 && want[k-1].bucket == b {
				want[k-1].cell.Merge(c)
				continue
			}
			want = append(want, bucketCell{b, c})
		}
		got := foldNumbers(ts, vs, w)
		if len(got) != len(want) {
			t.Fatalf("%d cells, want %d", len(got), len(want))
		}
		for i := range want {
			g, x := got[i], want[i]
			if g.bucket != x.bucket || !sameBits(g.cell.Sum, x.cell.Sum) || !sameBits(g.cell.Min, x.cell.Min) || !sameBits(g.cell.Max, x.cell.Max) ||
				!sameBits(g.cell.Last.Num, x.cell.Last.Num) {
				t.Fatalf("cell %d: got %+v, want %+v", i, g, x)
			}
			g.cell.Sum, g.cell.Min, g.cell.Max, g.cell.Last.Num = 0, 0, 0, 0
			x.cell.Sum, x.cell.Min, x.cell.Max, x.cell.Last.Num = 0, 0, 0, 0
			if !reflect.DeepEqual(g, x) {
				t.Fatalf("cell %d: got %+v, want %+v", i, g, x)
			}
		}
	}
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
