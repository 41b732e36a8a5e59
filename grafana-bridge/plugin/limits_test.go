package plugin

import (
	"encoding/json"
	"testing"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
)

// TestSeriesFrameThresholds wants a field's limits as the frame field's
// thresholds, which Grafana panels colour and draw by.
func TestSeriesFrameThresholds(t *testing.T) {
	l := &protocol.Limits{Warning: &protocol.Range{High: protocol.Ptr(26.0)}, Alarm: &protocol.Range{High: protocol.Ptr(30.0)}}
	f := SeriesFrame(bridge.Series{Target: bridge.Target{Node: "sim", Field: "t"}, Info: protocol.FieldInfo{Type: protocol.TypeNumber, Limits: l},
		Series: protocol.Series{Times: []int64{1e9, 2e9}, Values: protocol.Numbers(20, 27)}})
	b, err := json.Marshal(f.Fields[1].Config.Thresholds)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mode":"absolute","steps":[{"value":null,"color":"green","state":"ok"},{"value":26,"color":"yellow","state":"warning"},{"value":30,"color":"red","state":"alarm"}]}`
	if string(b) != want {
		t.Errorf("thresholds %s\nwant %s", b, want)
	}
	f = SeriesFrame(bridge.Series{Target: bridge.Target{Node: "sim", Field: "t"}, Info: protocol.FieldInfo{Type: protocol.TypeNumber}, Series: protocol.Series{Times: []int64{1e9}, Values: protocol.Numbers(20)}})
	if th := f.Fields[1].Config.Thresholds; th != nil {
		t.Errorf("a field without limits has thresholds %+v", th)
	}
}
