package bridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/live"

	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/grafana-bridge/plugin"
)

// TestPluginLabelsUnitsVariables: every frame of a multi-field query has
// labels unique within its query (alerting refuses duplicates), units are
// Grafana units unless the query leaves them to the panel, multi-value and
// All variables as Grafana formats them select several nodes and fields,
// and numeric ad-hoc filters are a notice, not an error.
func TestPluginLabelsUnitsVariables(t *testing.T) {
	ds := plugin.New(bridge.NewFakeSource(), bridge.Options{}, "uid", nil, nil)
	tr := backend.TimeRange{From: time.Unix(bridge.T0, 0), To: time.Unix(bridge.T0+3600, 0)}
	q := func(ref, js string) backend.DataQuery {
		return backend.DataQuery{RefID: ref, MaxDataPoints: 10, TimeRange: tr, JSON: []byte(js)}
	}
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		q("A", `{"node":"sim","fields":["temperature","humidity","co2"]}`),
		q("B", `{"node":"{sim,lab}","fields":["{temperature,pressure}"]}`),
		q("C", `{"node":"sim","fields":["*"]}`),
		q("D", `{"target":"{sim,lab}::pressure,sim::co2","unit":"panel"}`),
		q("E", `{"node":"*","field":"pressure","filters":[{"key":"node","operator":">","value":"a"},{"key":"field","operator":"<","value":"3"}]}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"A": {"sim::temperature celsius", "sim::humidity percent", "sim::co2 ppm"},
		"B": {"lab::pressure pressurehpa", "sim::temperature celsius"},
		"C": {"sim::co2 ppm", "sim::humidity percent", "sim::status ", "sim::temperature celsius"},
		"D": {"lab::pressure ", "sim::co2 "},
		"E": {"lab::pressure pressurehpa"},
	}
	for ref, w := range want {
		r := resp.Responses[ref]
		if r.Error != nil {
			t.Errorf("%s: %v", ref, r.Error)
			continue
		}
		var got []string
		seen := map[string]bool{}
		for _, f := range r.Frames {
			v := f.Fields[1]
			key := v.Labels.String()
			if seen[key] {
				t.Errorf("%s: labels %s twice", ref, key)
			}
			seen[key] = true
			if v.Labels["node"] == "" || v.Labels["field"] == "" {
				t.Errorf("%s: labels %s lack node or field", ref, key)
			}
			got = append(got, f.Name+" "+v.Config.Unit)
			if f.Name == "sim::status" && f.Meta.Type != data.FrameTypeTable {
				t.Errorf("string series typed %s, want a table", f.Meta.Type)
			}
		}
		if strings.Join(got, ", ") != strings.Join(w, ", ") {
			t.Errorf("%s: %v, want %v", ref, got, w)
		}
	}
	e := resp.Responses["E"].Frames[0].Meta.Notices
	if len(e) != 2 || !strings.Contains(e[0].Text, `node > "a" ignored`) {
		t.Errorf("E notices %+v", e)
	}
}

// TestLiveChannelsForEveryFieldName: a field name with ':' still makes a
// valid Grafana Live channel, which parses back to the field.
func TestLiveChannelsForEveryFieldName(t *testing.T) {
	for _, field := range []string{"temperature", "adc:0", "a.b-c_d:1:2", ""} {
		p := plugin.StreamPath("lab", field)
		if _, err := live.ParseChannel("ds/uid/" + p); err != nil {
			t.Errorf("%q: channel %q: %v", field, p, err)
		}
		n, f, err := plugin.ParseStreamPath(p)
		if err != nil || n != "lab" || f != field {
			t.Errorf("%q: parsed %q %q %v", field, n, f, err)
		}
	}
}

// TestPluginAnnotationsFromLimits asks the plugin for annotations of a
// field with limits: its transitions, the latest limit of them with a
// notice, as the JSON API's core computes them.
func TestPluginAnnotationsFromLimits(t *testing.T) {
	src := bridge.NewFakeSource()
	ds := plugin.New(src, bridge.Options{}, "uid", nil, nil)
	tr := backend.TimeRange{From: time.Unix(bridge.T0, 0).UTC(), To: time.Unix(bridge.T0+86400, 0).UTC()}
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		{RefID: "A", TimeRange: tr, QueryType: plugin.QueryTypeAnnotations, JSON: []byte(`{"node":"sim","field":"temperature","limit":4}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Responses["A"]
	if r.Error != nil || len(r.Frames) != 1 {
		t.Fatalf("%v %v", r.Error, r.Frames)
	}
	f := r.Frames[0]
	want, err := bridge.NewCore(src, bridge.Options{}, nil).Annotations(context.Background(),
		bridge.AnnotationRequest{Targets: []bridge.Target{{Node: "sim", Field: "temperature"}}, From: tr.From, To: tr.To, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() != 4 || len(want.Events) != 4 {
		t.Fatalf("%d rows, core %d events, want 4", f.Rows(), len(want.Events))
	}
	title, _ := f.FieldByName("title")
	end, _ := f.FieldByName("timeEnd")
	for i, e := range want.Events {
		if title.At(i) != e.Title || (end.At(i).(*time.Time) == nil) != (e.End == 0) {
			t.Errorf("row %d: %v until %v, want %q until %d", i, title.At(i), end.At(i), e.Title, e.End)
		}
	}
	if len(f.Meta.Notices) != 1 || !strings.Contains(f.Meta.Notices[0].Text, "latest 4 of") {
		t.Errorf("notices %+v, want the limit's", f.Meta.Notices)
	}
}
