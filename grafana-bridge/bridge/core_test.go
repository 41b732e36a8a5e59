package bridge

import (
	"testing"

	"github.com/telemesh/telemesh/protocol"
)

func TestParseTarget(t *testing.T) {
	for in, ok := range map[string]bool{"sim::temperature": true, "*::co2": true, " a::b.c:d ": true,
		"temperature": false, "::x": false, "a::": false, "a b::c": false, "a::b c": false} {
		_, err := ParseTarget(in)
		if (err == nil) != ok {
			t.Errorf("ParseTarget(%q): %v", in, err)
		}
	}
}

// TestDownsampleLikeANode: a node that ignores max_points is downsampled
// by the node's own rules: a bool field aggregates with last, whatever the
// aggregation, and a bucket holding one reading gives one minmax point.
func TestDownsampleLikeANode(t *testing.T) {
	sec := func(s float64) int64 { return protocol.ClampNanos(t0 + s) }
	q := Query{Start: t0, End: t0 + 60, MaxPoints: 2}
	flags := protocol.Series{Field: "on", Times: []int64{sec(0), sec(1), sec(2)}, Values: protocol.Bools(true, true, false)}
	got, err := downsampleLike(flags, q, protocol.AggMean)
	if err != nil || got.Len() != 1 || got.Values.At(0) != protocol.Bool(false) {
		t.Errorf("bool mean = %+v, %v; want [false]", got, err)
	}
	one := protocol.Series{Field: "x", Times: []int64{sec(0)}, Values: protocol.Numbers(5)}
	got, err = downsampleLike(one, q, protocol.AggMinMax)
	if err != nil || got.Len() != 1 || got.Values.Nums[0] != 5 {
		t.Errorf("one-reading minmax = %+v, %v; want [5]", got, err)
	}
}
