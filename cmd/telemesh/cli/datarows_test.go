package cli

import (
	"reflect"
	"testing"

	"github.com/telemesh/telemesh/protocol"
)

func TestDataRowsMinMax(t *testing.T) {
	r := &protocol.DataResult{
		Data: map[string]protocol.Values{"a": protocol.Numbers(1, 9, 2), "b": protocol.Numbers(5, 6, 7)},
		Timeline: map[string]protocol.TimelineData{
			"tl": {T: []float64{1795456800, 1795456800, 1795460400}},
		},
	}
	got := dataRows(r, []string{"a", "b"}, map[string]string{"a": "tl", "b": "tl"})
	want := [][]string{
		{"2026-11-23T18:00:00.000Z", "1", "5"},
		{"2026-11-23T18:00:00.000Z", "9", "6"},
		{"2026-11-23T19:00:00.000Z", "2", "7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dataRows = %q, want %q", got, want)
	}
}
