package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/grafana-bridge/plugin"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

const t0 = 1_700_000_000 // 2023-11-14T22:13:20Z

// simStack starts a live stack with node "sim" holding one hour of 1 Hz
// temperature, humidity and co2, and a door field with two events.
func simStack(t *testing.T) *stack {
	s := startStack(t, stackNode{Name: "sim"})
	fields := []driver.Field{
		{Name: "temperature", Units: "degC", Timeline: "env", Interval: time.Second},
		{Name: "humidity", Units: "%", Timeline: "env", Interval: time.Second},
		{Name: "co2", Units: "ppm", Timeline: "env", Interval: time.Second},
		{Name: "door", Type: protocol.TypeString},
	}
	var rs []protocol.Reading
	for i := range 3600 {
		ns := int64(t0+i) * 1e9
		rs = append(rs,
			protocol.Reading{Field: "temperature", Time: ns, Value: 20 + math.Sin(float64(i)/600)},
			protocol.Reading{Field: "humidity", Time: ns, Value: 40.0},
			protocol.Reading{Field: "co2", Time: ns, Value: 400 + float64(i/60)})
	}
	rs = append(rs, protocol.Reading{Field: "door", Time: (t0 + 600) * 1e9, Value: "opened"},
		protocol.Reading{Field: "door", Time: (t0 + 1200) * 1e9, Value: "closed"})
	s.Load(t, "sim", fields, rs)
	return s
}

func settings() *backend.DataSourceInstanceSettings {
	return &backend.DataSourceInstanceSettings{UID: "telemesh", Name: "telemesh", JSONData: []byte(`{}`)}
}

func hour() backend.TimeRange {
	return backend.TimeRange{From: time.Unix(t0, 0).UTC(), To: time.Unix(t0+3600, 0).UTC()}
}

// TestPluginOverGRPC runs the plugin behind the SDK's gRPC harness against
// a live router, hub and data node.
// grpcHarnessUsed records that the SDK's gRPC harness ran: it registers
// global Prometheus collectors, so it can start once per test process.
var grpcHarnessUsed atomic.Bool

func TestPluginOverGRPC(t *testing.T) {
	if grpcHarnessUsed.Swap(true) {
		t.Skip("the SDK's gRPC harness runs once per process (it registers global metrics); run with -count=1")
	}
	s := simStack(t)
	factory := plugin.NewFactory(func(context.Context, plugin.Parsed) (bridge.Source, func(), error) {
		return s.Client, nil, nil
	}, nil)
	tp, err := datasourcetest.Manage(factory, datasourcetest.ManageOpts{Address: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown()
	pc := backend.PluginContext{PluginID: plugin.ID, DataSourceInstanceSettings: settings()}
	ctx := context.Background()

	resp, err := tp.Client.QueryData(ctx, &backend.QueryDataRequest{PluginContext: pc, Queries: []backend.DataQuery{
		{RefID: "A", MaxDataPoints: 100, Interval: time.Second, TimeRange: hour(), JSON: []byte(`{"node":"sim","field":"co2","agg":"max"}`)},
		{RefID: "B", MaxDataPoints: 1000, TimeRange: hour(), JSON: []byte(`{"target":"sim::temperature","live":true}`)},
		{RefID: "C", MaxDataPoints: 100, TimeRange: hour(), JSON: []byte(`{"node":"sim","field":"nosuch"}`)},
		{RefID: "D", MaxDataPoints: 100, TimeRange: hour(), JSON: []byte(`{"node":"sim","field":"door","queryType":"annotations"}`)},
		{RefID: "E", MaxDataPoints: 100, TimeRange: hour(), JSON: []byte(`{not json`)},
		{RefID: "F", MaxDataPoints: 100, TimeRange: backend.TimeRange{From: time.Unix(t0+10, 0), To: time.Unix(t0, 0)}, JSON: []byte(`{"node":"sim","field":"co2"}`)},
		{RefID: "G", MaxDataPoints: 100, TimeRange: hour(), JSON: []byte(`{"node":"*","field":"humidity","filters":[{"key":"node","operator":"=","value":"sim"}]}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := resp.Responses["A"]
	if a.Error != nil || len(a.Frames) != 1 {
		t.Fatalf("A: %v %v", a.Error, a.Frames)
	}
	f := a.Frames[0]
	if n := f.Rows(); n == 0 || n > 100 {
		t.Errorf("A: %d rows, want 1..100", n)
	}
	if f.Name != "sim::co2" || f.Fields[1].Labels["node"] != "sim" || f.Meta.Type != data.FrameTypeTimeSeriesMulti {
		t.Errorf("A: frame %s labels %v meta %+v", f.Name, f.Fields[1].Labels, f.Meta)
	}
	last, _ := f.Fields[1].ConcreteAt(f.Rows() - 1)
	if last.(float64) != 459 {
		t.Errorf("A: last max %v, want 459", last)
	}
	b := resp.Responses["B"]
	if b.Error != nil || len(b.Frames) != 1 || b.Frames[0].Meta.Channel != "ds/telemesh/node/sim/temperature" {
		t.Fatalf("B: %v %+v", b.Error, b.Frames)
	}
	if b.Frames[0].Rows() > 1000 {
		t.Errorf("B: %d rows", b.Frames[0].Rows())
	}
	if c := resp.Responses["C"]; c.Error == nil || !strings.Contains(c.Error.Error(), "nosuch") || c.Status != backend.StatusNotFound {
		t.Errorf("C: %v %v, want not found naming the field", c.Status, c.Error)
	}
	d := resp.Responses["D"]
	if d.Error != nil || len(d.Frames) != 1 || d.Frames[0].Rows() != 2 {
		t.Fatalf("D: %v %+v", d.Error, d.Frames)
	}
	if text, _ := d.Frames[0].FieldByName("text"); text == nil {
		t.Errorf("D: no text field in %+v", d.Frames[0])
	} else if txt, _ := text.ConcreteAt(1); txt != "closed" {
		t.Errorf("D: second event %v", txt)
	}
	for _, ref := range []string{"E", "F"} {
		if r := resp.Responses[ref]; r.Error == nil || r.Status != backend.StatusBadRequest {
			t.Errorf("%s: %v %v, want a bad request", ref, r.Status, r.Error)
		}
	}
	if g := resp.Responses["G"]; g.Error != nil || len(g.Frames) != 1 || g.Frames[0].Name != "sim::humidity" {
		t.Errorf("G: %v %v", g.Error, g.Frames)
	}

	h, err := tp.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pc})
	if err != nil || h.Status != backend.HealthStatusOk || !strings.Contains(h.Message, "1 data nodes") {
		t.Fatalf("health: %v %+v", err, h)
	}

	for _, c := range []struct {
		path, url string
		code      int
		want      string
	}{
		{"fields", "fields?node=sim", 200, `"name":"co2","type":"number","units":"ppm"`},
		{"nodes", "nodes", 200, `["sim"]`},
		{"lookup", "lookup?query=fields(sim)", 200, `["co2","door","humidity","temperature"]`},
		{"tag-values", "tag-values?key=node", 200, `[{"text":"sim"}]`},
		{"fields", "fields?node=../etc", 400, `"error"`},
		{"fields", "fields?node=ghost", 404, `"error"`},
	} {
		var rs resourceSender
		err := tp.Client.CallResource(ctx, &backend.CallResourceRequest{PluginContext: pc, Path: c.path, Method: "GET", URL: c.url}, &rs)
		if err != nil || rs.status != c.code || !strings.Contains(rs.body, c.want) {
			t.Errorf("resource %s: %v %d %s, want %d with %s", c.url, err, rs.status, rs.body, c.code, c.want)
		}
	}
}

type resourceSender struct {
	status int
	body   string
}

func (r *resourceSender) Send(resp *backend.CallResourceResponse) error {
	if resp.Status != 0 {
		r.status = resp.Status
	}
	r.body += string(resp.Body)
	return nil
}

type packets struct {
	mu sync.Mutex
	c  chan []byte
}

func (p *packets) Send(sp *backend.StreamPacket) error {
	p.c <- append([]byte(nil), sp.Data...)
	return nil
}

// TestRunStream drives RunStream with a fake sender: readings a driver
// emits on the live node arrive as frames of the field's shape.
func TestRunStream(t *testing.T) {
	s := simStack(t)
	ds := plugin.New(s.Client, bridge.Options{}, "telemesh", nil, nil)
	ctx := context.Background()
	for _, c := range []struct {
		path string
		want backend.SubscribeStreamStatus
	}{{"node/sim/temperature", backend.SubscribeStreamStatusOK}, {"node/ghost", backend.SubscribeStreamStatusNotFound}, {"bogus", backend.SubscribeStreamStatusNotFound}} {
		r, err := ds.SubscribeStream(ctx, &backend.SubscribeStreamRequest{Path: c.path})
		if err != nil || r.Status != c.want {
			t.Errorf("subscribe %s: %v %v, want %v", c.path, err, r, c.want)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	p := &packets{c: make(chan []byte, 100)}
	done := make(chan error, 1)
	go func() {
		done <- ds.RunStream(sctx, &backend.RunStreamRequest{Path: "node/sim/temperature"}, backend.NewStreamSender(p))
	}()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var got []byte
	for got == nil {
		select {
		case b := <-p.c:
			got = b
		case <-tick.C: // until the subscription is in place
			s.Sink("sim").Emit(protocol.Reading{Field: "temperature", Time: time.Now().UnixNano(), Value: 42.5},
				protocol.Reading{Field: "humidity", Time: time.Now().UnixNano(), Value: 41.0})
		case <-deadline:
			t.Fatal("no live frame")
		}
	}
	var f data.Frame
	if err := json.Unmarshal(got, &f); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if f.Name != "sim::temperature" || len(f.Fields) != 2 || f.Fields[1].Name != "temperature" {
		t.Fatalf("frame %s", got)
	}
	if v, _ := f.Fields[1].ConcreteAt(0); v != 42.5 {
		t.Errorf("value %v, want 42.5", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := ds.RunStream(ctx, &backend.RunStreamRequest{Path: "../x"}, backend.NewStreamSender(p)); err == nil {
		t.Error("RunStream accepted a bad path")
	}
}
