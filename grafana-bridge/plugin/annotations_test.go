package plugin

import (
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
)

// TestAnnotationFrame wants the frame Grafana reads annotations from: an
// annotations data topic, time and timeEnd (a region for a warning or an
// alarm, null for a point), title, text, tags, and the notices as frame
// warnings.
func TestAnnotationFrame(t *testing.T) {
	tg := bridge.Target{Node: "lab", Field: "co2"}
	f := AnnotationFrame(bridge.Annotations{
		Events: []bridge.Event{
			{Target: tg, Time: 2e9, End: 5e9, Title: "co2 entered alarm (1523 ppm > 1500)", Text: "lab::co2: ok → alarm at 1523 ppm", Tags: []string{"lab", "co2", "alarm"}},
			{Target: tg, Time: 5e9, Title: "co2 left alarm (1470 ppm)", Text: "lab::co2: alarm → ok at 1470 ppm", Tags: []string{"lab", "co2", "ok"}},
		},
		Notices: []bridge.Notice{{Time: 2e9, Text: "showing the latest 2 of 9 annotations (the limit); narrow the range for earlier ones"}},
	})
	if f.Meta == nil || f.Meta.DataTopic != data.DataTopicAnnotations || len(f.Meta.Notices) != 1 || f.Meta.Notices[0].Severity != data.NoticeSeverityWarning {
		t.Fatalf("meta %+v", f.Meta)
	}
	if f.Rows() != 2 {
		t.Fatalf("%d rows, want 2", f.Rows())
	}
	get := func(name string, row int) any {
		fl, _ := f.FieldByName(name)
		if fl == nil {
			t.Fatalf("no field %s", name)
		}
		return fl.At(row)
	}
	if got := get("time", 0).(time.Time); !got.Equal(time.Unix(2, 0)) {
		t.Errorf("time %v", got)
	}
	if end := get("timeEnd", 0).(*time.Time); end == nil || !end.Equal(time.Unix(5, 0)) {
		t.Errorf("timeEnd of the alarm %v, want 5 s", end)
	}
	if end := get("timeEnd", 1).(*time.Time); end != nil {
		t.Errorf("timeEnd of the return to ok %v, want null", end)
	}
	if get("title", 0) != "co2 entered alarm (1523 ppm > 1500)" || get("tags", 0) != "lab,co2,alarm" || get("text", 1) != "lab::co2: alarm → ok at 1470 ppm" {
		t.Errorf("row 0 %v %v, row 1 %v", get("title", 0), get("tags", 0), get("text", 1))
	}
}
