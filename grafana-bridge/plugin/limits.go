package plugin

import (
	"math"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
)

// thresholds is a field's warning and alarm ranges as the frame field's
// threshold config, so panels colour values and draw the bands; nil when
// the field has no limits.
func thresholds(l *protocol.Limits) *data.ThresholdsConfig {
	steps := bridge.ThresholdSteps(l)
	if steps == nil {
		return nil
	}
	out := &data.ThresholdsConfig{Mode: data.ThresholdsModeAbsolute}
	for _, s := range steps {
		v := data.ConfFloat64(math.Inf(-1)) // Grafana's first step, sent as null
		if s.Value != nil {
			v = data.ConfFloat64(*s.Value)
		}
		out.Steps = append(out.Steps, data.Threshold{Value: v, Color: s.Color, State: s.State})
	}
	return out
}
