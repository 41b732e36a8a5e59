package datanodes

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
)

func testLimits(h float64) protocol.Limits {
	return protocol.Limits{
		Warning:    &protocol.Range{Low: protocol.Ptr(18.0), High: protocol.Ptr(26.0)},
		Alarm:      &protocol.Range{Low: protocol.Ptr(15.0), High: protocol.Ptr(30.0)},
		Hysteresis: h,
	}
}

func TestLimitsCheck(t *testing.T) {
	inverted := testLimits(0)
	inverted.Warning, inverted.Alarm = inverted.Alarm, inverted.Warning
	for _, bad := range []protocol.Limits{
		{},
		{Warning: &protocol.Range{}},
		{Warning: &protocol.Range{Low: protocol.Ptr(5.0), High: protocol.Ptr(1.0)}},
		inverted,
		testLimits(-1),
	} {
		if checkLimits("x", bad) == nil {
			t.Errorf("checkLimits(%+v) accepted", bad)
		}
	}
	if err := checkLimits("x", testLimits(0)); err != nil {
		t.Error(err)
	}
	cfg := Config{Name: "n1", Drivers: []DriverConfig{{Type: "sim"}}, Limits: map[string]protocol.Limits{"t": inverted}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil {
		t.Error("a node file with impossible limits was accepted")
	}
}

// TestAlarmTopic feeds a node readings that jitter across a bound and
// wants one event per transition on the alarm topic, the limits in
// get_fields, and nothing for a field without limits or for history.
func TestAlarmTopic(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits = map[string]protocol.Limits{"temp": testLimits(0.5)} })
	var mu sync.Mutex
	var got []protocol.LimitTransition
	if err := e.call.Subscribe(AlarmTopic(e.names, "n1"), func(ev *wamp.Event) {
		var tr protocol.LimitTransition
		b := jsonRoundTrip(t, ev.Arguments[0])
		tr.Field, _ = b["field"].(string)
		tr.State, _ = b["state"].(string)
		tr.Previous, _ = b["previous"].(string)
		tr.Value, _ = b["value"].(float64)
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
	}, nil); err != nil {
		t.Fatal(err)
	}
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "temp", Units: "degC"},
		driver.Field{Name: "co2", Units: "ppm", Limits: &protocol.Limits{Alarm: &protocol.Range{High: protocol.Ptr(1000.0)}}},
		driver.Field{Name: "other"})
	now := time.Now().UnixNano()
	// History far outside the limits raises nothing.
	s.Emit(protocol.Reading{Field: "temp", Time: now - int64(time.Hour), Value: 99.0})
	values := []float64{20, 26.1, 25.9, 26.2, 25.8, 26.3, 30.2, 29.9, 30.1, 29.8, 20}
	for i, v := range values {
		s.Emit(protocol.Reading{Field: "temp", Time: now + int64(i)*int64(time.Millisecond), Value: v},
			protocol.Reading{Field: "other", Time: now + int64(i)*int64(time.Millisecond), Value: 1e6})
	}
	s.Emit(protocol.Reading{Field: "co2", Time: now, Value: 1200.0})
	want := []protocol.LimitTransition{
		{Field: "temp", State: "warning", Previous: "ok", Value: 26.1},
		{Field: "temp", State: "alarm", Previous: "warning", Value: 30.2},
		{Field: "temp", State: "ok", Previous: "alarm", Value: 20},
		{Field: "co2", State: "alarm", Previous: "ok", Value: 1200},
	}
	waitFor(t, "four transitions", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(want) })
	time.Sleep(100 * time.Millisecond) // five live intervals: anything extra would be out by now
	mu.Lock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transitions\n got %+v\nwant %+v", got, want)
	}
	mu.Unlock()

	res, err := e.call.Call(context.Background(), e.names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := wamp.AsList(res.Arguments[0])
	fs, err := protocol.DecodeFieldMap(pair[0])
	if err != nil {
		t.Fatal(err)
	}
	if l := fs["temp"].Limits; l == nil || !reflect.DeepEqual(*l, testLimits(0.5)) {
		t.Errorf("get_fields limits of temp: %+v", l)
	}
	if l := fs["co2"].Limits; l == nil || l.Alarm == nil || *l.Alarm.High != 1000 {
		t.Errorf("get_fields limits of co2 (declared by the driver): %+v", l)
	}
	if fs["other"].Limits != nil {
		t.Errorf("a field without limits has %+v", fs["other"].Limits)
	}
}
