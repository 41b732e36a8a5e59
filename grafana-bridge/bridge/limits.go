package bridge

import (
	"math"
	"sort"

	"github.com/telemesh/telemesh/protocol"
)

// ThresholdStep is one step of Grafana's absolute thresholds: values from
// Value (nil: from minus infinity) up to the next step take Color. State
// is the field's limit state there (ok, warning or alarm).
type ThresholdStep struct {
	Value *float64 `json:"value"`
	Color string   `json:"color"`
	State string   `json:"state"`
}

// Colours Grafana knows by name, per limit state.
var limitColors = map[string]string{protocol.LimitOK: "green", protocol.LimitWarning: "yellow", protocol.LimitAlarm: "red"}

// ThresholdSteps turns a field's warning and alarm ranges into Grafana
// thresholds, ascending: below the alarm range red, below the warning
// range yellow, inside green, and so on upwards. nil limits give nil.
func ThresholdSteps(l *protocol.Limits) []ThresholdStep {
	if l == nil {
		return nil
	}
	// The state of the interval that starts at each bound.
	type edge struct {
		v    float64
		rank int
	}
	var lows, highs []edge
	add := func(r *protocol.Range, rank int) {
		if r == nil {
			return
		}
		if r.Low != nil {
			lows = append(lows, edge{*r.Low, rank})
		}
		if r.High != nil {
			highs = append(highs, edge{*r.High, rank})
		}
	}
	add(l.Warning, 1)
	add(l.Alarm, 2)
	if len(lows) == 0 && len(highs) == 0 {
		return nil
	}
	states := []string{protocol.LimitOK, protocol.LimitWarning, protocol.LimitAlarm}
	// Below every low bound the worst low rank applies; each low bound
	// passed upwards lowers it, each high bound passed raises it.
	rankAt := func(v float64) int {
		r := 0
		for _, e := range lows {
			if v < e.v {
				r = max(r, e.rank)
			}
		}
		for _, e := range highs {
			if v > e.v {
				r = max(r, e.rank)
			}
		}
		return r
	}
	var bounds []float64
	for _, e := range append(append([]edge{}, lows...), highs...) {
		bounds = append(bounds, e.v)
	}
	sort.Float64s(bounds)
	step := func(v *float64, rank int) ThresholdStep {
		return ThresholdStep{Value: v, Color: limitColors[states[rank]], State: states[rank]}
	}
	out := []ThresholdStep{step(nil, rankAt(math.Inf(-1)))}
	for _, b := range bounds {
		// Grafana's step at b covers [b, next); the value just above b
		// decides (a high bound itself is still inside its range).
		r := rankAt(math.Nextafter(b, math.Inf(1)))
		if last := out[len(out)-1]; last.State == states[r] {
			continue
		}
		out = append(out, step(protocol.Ptr(b), r))
	}
	return out
}
