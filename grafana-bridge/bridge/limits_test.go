package bridge

import (
	"testing"

	"github.com/telemesh/telemesh/protocol"
)

func TestThresholdSteps(t *testing.T) {
	p := protocol.Ptr[float64]
	type st struct {
		v     any
		state string
	}
	for _, tc := range []struct {
		name string
		l    *protocol.Limits
		want []st
	}{
		{"none", nil, nil},
		{"both ranges", &protocol.Limits{Warning: &protocol.Range{Low: p(18), High: p(26)}, Alarm: &protocol.Range{Low: p(15), High: p(30)}},
			[]st{{nil, "alarm"}, {15.0, "warning"}, {18.0, "ok"}, {26.0, "warning"}, {30.0, "alarm"}}},
		{"alarm above only", &protocol.Limits{Alarm: &protocol.Range{High: p(1000)}}, []st{{nil, "ok"}, {1000.0, "alarm"}}},
		{"warning below only", &protocol.Limits{Warning: &protocol.Range{Low: p(5)}}, []st{{nil, "warning"}, {5.0, "ok"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ThresholdSteps(tc.l)
			if len(got) != len(tc.want) {
				t.Fatalf("%d steps, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if (w.v == nil) != (g.Value == nil) || g.Value != nil && *g.Value != w.v.(float64) || g.State != w.state || g.Color != limitColors[w.state] {
					t.Errorf("step %d = {%v %s %s}, want {%v %s}", i, g.Value, g.State, g.Color, w.v, w.state)
				}
			}
		})
	}
}

// TestTimeserieLimitsMeta wants the JSON API's series of a field with
// limits to carry them, and the thresholds, under meta; others no meta.
func TestTimeserieLimitsMeta(t *testing.T) {
	l := &protocol.Limits{Alarm: &protocol.Range{High: protocol.Ptr(1000.0)}}
	ts := toTimeserie(Series{Target: Target{Node: "sim", Field: "co2"}, Info: protocol.FieldInfo{Limits: l}, Series: protocol.Series{Times: []int64{1e9}, Values: protocol.Numbers(400)}})
	if ts.Meta == nil || ts.Meta.Limits == nil || len(ts.Meta.Thresholds) != 2 || ts.Meta.Thresholds[1].State != protocol.LimitAlarm {
		t.Errorf("meta %+v", ts.Meta)
	}
	if ts := toTimeserie(Series{Target: Target{Node: "sim", Field: "x"}, Series: protocol.Series{Times: []int64{1e9}, Values: protocol.Numbers(1)}}); ts.Meta != nil {
		t.Errorf("meta without limits: %+v", ts.Meta)
	}
}
