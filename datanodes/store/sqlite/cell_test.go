package sqlite

import (
	"math"
	"testing"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

func TestCellRoundTrip(t *testing.T) {
	const bucket = int64(1_700_000_000_000_000_000)
	for name, vals := range map[string][]any{
		"numbers": {1.5, -2.0, 1e300, 0.0},
		"bools":   {true, false, true},
		"strings": {"a", "", "ünïcode"},
		"mixed":   {1.0, "x", 3.0, false},
		"nan":     {math.NaN(), 2.0},
		"one":     {42.0},
	} {
		var c downsample.Cell
		for i, v := range vals {
			pv, err := protocol.ValueOf(v)
			if err != nil {
				t.Fatal(err)
			}
			c.Add(bucket+int64(i)*1e9, pv)
		}
		got, err := decodeCell(bucket, encodeCell(bucket, c))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "nan" {
			if !math.IsNaN(got.Sum) || got.Count != 2 {
				t.Errorf("%s: %+v", name, got)
			}
			continue
		}
		if got != c {
			t.Errorf("%s: decoded %+v, want %+v", name, got, c)
		}
	}
	for _, b := range [][]byte{nil, {0}, {flagNums, 1, 1, 0, 0}, {0, 1, 1, 0, 0, 1, 2}, {lastTypeMask, 1, 0, 0, 0}} {
		if _, err := decodeCell(bucket, b); err == nil {
			t.Errorf("decodeCell(%v) succeeded", b)
		}
	}
}
