package downsample

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/telemesh/telemesh/protocol"
)

func TestStart(t *testing.T) {
	for _, tc := range []struct{ t, w, want int64 }{
		{0, 10, 0}, {9, 10, 0}, {10, 10, 10}, {-1, 10, -10}, {-10, 10, -10}, {-11, 10, -20},
	} {
		if got := Start(tc.t, tc.w); got != tc.want {
			t.Errorf("Start(%d, %d) = %d, want %d", tc.t, tc.w, got, tc.want)
		}
	}
}

func TestMergeOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ts []int64
	var vs []protocol.Value
	for i := range 200 {
		ts = append(ts, int64(i))
		vs = append(vs, protocol.Num(float64(rng.IntN(5)))) // many ties
	}
	var want Cell
	for i := range ts {
		want.Add(ts[i], vs[i])
	}
	// Any split into chunks, merged in any order, gives the same cell.
	for range 20 {
		cut := rng.IntN(len(ts))
		var a, b Cell
		for i := range ts {
			if i < cut {
				a.Add(ts[i], vs[i])
			} else {
				b.Add(ts[i], vs[i])
			}
		}
		b.Merge(a)
		if b != want {
			t.Fatalf("merged %+v, want %+v", b, want)
		}
	}
	if want.MinT != int64(slices.Index(vs, protocol.Num(want.Min))) {
		t.Errorf("tie on min went to %d, not the first occurrence", want.MinT)
	}
}

func TestCellValues(t *testing.T) {
	var c Cell
	for i, v := range []float64{5, 1, 9, 3} {
		c.Add(int64(i), protocol.Num(v))
	}
	n := protocol.Num
	for agg, want := range map[string][]protocol.Value{
		protocol.AggMean: {n(4.5)}, protocol.AggMin: {n(1.0)}, protocol.AggMax: {n(9.0)}, protocol.AggLast: {n(3.0)}, protocol.AggMinMax: {n(1.0), n(9.0)},
	} {
		if got := c.Values(agg); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", agg, got, want)
		}
	}
	c.Add(10, protocol.Str("text"))
	if got := c.Values(protocol.AggMinMax); !slices.Equal(got, []protocol.Value{protocol.Str("text")}) {
		t.Errorf("mixed cell = %v, want last", got)
	}
}

func TestBucketerLimitCountsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var ts []int64
	var vs []protocol.Value
	for i := range 5000 {
		ts = append(ts, int64(i*3+rng.IntN(3)))
		vs = append(vs, protocol.Num(rng.Float64()))
	}
	for _, agg := range []string{protocol.AggMean, protocol.AggMinMax} {
		full := New(17)
		for i := range ts {
			full.Add(ts[i], vs[i])
		}
		total := full.Points(agg)
		for _, limit := range []int{0, 1, 100, total - 1, total, total + 1} {
			b := New(17)
			b.Limit(agg, limit)
			for i := range ts {
				b.Add(ts[i], vs[i])
			}
			if got := b.Points(agg); got != total {
				t.Errorf("%s limit %d: Points = %d, want %d", agg, limit, got, total)
			}
			if limit < total && len(b.cells) > limit+1 {
				t.Errorf("%s limit %d kept %d cells", agg, limit, len(b.cells))
			}
		}
	}
}

func TestBucketerOutOfOrder(t *testing.T) {
	b := New(10)
	for _, t := range []int64{25, 5, 15, 7, 31} {
		b.Add(t, protocol.Num(float64(t)))
	}
	ts, vs, err := b.Result(protocol.AggMax)
	if err != nil || !slices.Equal(ts, []int64{0, 10, 20, 30}) || !slices.Equal(vs.Nums, []float64{7.0, 15.0, 25.0, 31.0}) {
		t.Errorf("got %v %v", ts, vs)
	}
}

func TestResultRefusesMixedTypes(t *testing.T) {
	b := New(10)
	b.Add(1, protocol.Num(1))
	b.Add(11, protocol.Str("x"))
	if _, _, err := b.Result(protocol.AggLast); !protocol.IsKind(err, protocol.InvalidArgument) {
		t.Errorf("mixed field = %v, want invalid_argument", err)
	}
}
