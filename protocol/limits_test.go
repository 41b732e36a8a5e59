package protocol

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

// TestLimitsOnTheWire round-trips limits through a field map as a JSON
// client would send it, and keeps the field when the key is malformed.
func TestLimitsOnTheWire(t *testing.T) {
	l := Limits{Alarm: &Range{High: Ptr(1000.0)}, Hysteresis: 5}
	fi := FieldInfo{Timeline: "sim", Type: TypeNumber, Limits: &l}
	var wire any
	if err := roundTrip(map[string]any{"co2": fi.Wire()}, &wire); err != nil {
		t.Fatal(err)
	}
	fs, err := DecodeFieldMap(wire)
	if err != nil {
		t.Fatal(err)
	}
	if got := fs["co2"].Limits; got == nil || !reflect.DeepEqual(*got, l) {
		t.Errorf("limits after a round trip: %+v, want %+v", got, l)
	}
	if _, ok := (FieldInfo{}).Wire()["limits"]; ok {
		t.Error("a field without limits sends the key")
	}
	fs, err = DecodeFieldMap(map[string]any{"x": map[string]any{"timeline": "x", "limits": "nonsense"}})
	if err != nil || fs["x"].Limits != nil {
		t.Errorf("malformed limits: %v, %+v", err, fs["x"])
	}
}

func testLimits(h float64) Limits {
	return Limits{
		Warning:    &Range{Low: Ptr(18.0), High: Ptr(26.0)},
		Alarm:      &Range{Low: Ptr(15.0), High: Ptr(30.0)},
		Hysteresis: h,
	}
}

// TestLimitStates walks a value up through the bounds and back while it
// jitters at each: each state is entered once and left once.
func TestLimitStates(t *testing.T) {
	l := testLimits(0.5)
	values := []float64{20, 25.9, 26.1, 25.9, 26.1, 25.8, 29.9, 30.1, 29.9, 30.1, 29.6, 29.4, 25.6, 25.4, 20}
	want := []string{"ok", "ok", "warning", "warning", "warning", "warning", "warning", "alarm", "alarm", "alarm", "alarm", "warning", "warning", "ok", "ok"}
	cur, got := LimitOK, []string{}
	for _, v := range values {
		cur = l.Next(cur, v)
		got = append(got, cur)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states\n got %v\nwant %v", got, want)
	}
	for _, step := range []struct {
		cur  string
		v    float64
		want string
	}{{"ok", 14, "alarm"}, {"alarm", 15.2, "alarm"}, {"alarm", 15.6, "warning"}, {"warning", 18.2, "warning"}, {"warning", 18.6, "ok"}, {"alarm", 22, "ok"}} {
		if got := l.Next(step.cur, step.v); got != step.want {
			t.Errorf("next(%s, %v) = %s, want %s", step.cur, step.v, got, step.want)
		}
	}
}

func TestDefaultHysteresis(t *testing.T) {
	if h := testLimits(0).EffectiveHysteresis(); h != 0.08 {
		t.Errorf("default hysteresis %v, want 1%% of the warning band (0.08)", h)
	}
	if h := (Limits{Alarm: &Range{High: Ptr(1000.0)}}).EffectiveHysteresis(); h != 10 {
		t.Errorf("one-sided default hysteresis %v, want 10", h)
	}
}

// TestLimitTracker runs two fields through one tracker: one transition
// per change of state, none for a field without limits, for NaN, or for
// a field whose limits were removed; the payload round-trips.
func TestLimitTracker(t *testing.T) {
	tr := NewLimitTracker(map[string]Limits{"temp": testLimits(0.5)})
	tr.SetLimits("co2", &Limits{Alarm: &Range{High: Ptr(1000.0)}})
	type obs struct {
		field string
		v     float64
	}
	var got []LimitTransition
	for i, o := range []obs{{"temp", 20}, {"co2", 1200}, {"temp", 26.1}, {"other", 1e9}, {"temp", math.NaN()}, {"temp", 25.9}, {"temp", 30.2}, {"co2", 995}, {"co2", 985}, {"temp", 20}} {
		if x, ok := tr.Observe(o.field, int64(i)*1e9, o.v); ok {
			got = append(got, x)
		}
	}
	want := []LimitTransition{
		{Field: "co2", T: 1, Value: 1200, State: "alarm", Previous: "ok"},
		{Field: "temp", T: 2, Value: 26.1, State: "warning", Previous: "ok"},
		{Field: "temp", T: 6, Value: 30.2, State: "alarm", Previous: "warning"},
		{Field: "co2", T: 8, Value: 985, State: "ok", Previous: "alarm"},
		{Field: "temp", T: 9, Value: 20, State: "ok", Previous: "alarm"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transitions\n got %+v\nwant %+v", got, want)
	}
	if tr.Tracks("other") || tr.State("other") != LimitOK {
		t.Error("a field without limits is tracked")
	}
	tr.Observe("co2", 10e9, 2000)
	tr.SetLimits("co2", nil)
	if tr.Tracks("co2") || tr.State("co2") != LimitOK {
		t.Error("removed limits keep their state")
	}
	var wire any
	if err := roundTrip(want[0].Wire(), &wire); err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeLimitTransition(wire); err != nil || back != want[0] {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if _, err := DecodeLimitTransition(map[string]any{"t": 1}); err == nil {
		t.Error("an event without field and state decoded")
	}
}

// TestLimitsDocExample checks the example of docs/protocol.md "Limits".
func TestLimitsDocExample(t *testing.T) {
	tr := NewLimitTracker(map[string]Limits{"t": {Warning: &Range{High: Ptr(26.0)}, Alarm: &Range{High: Ptr(30.0)}, Hysteresis: 0.5}})
	var got []string
	for i, v := range []float64{25.9, 26.1, 25.9, 29.9, 30.1, 29.6, 29.4, 25.6, 25.4} {
		if x, ok := tr.Observe("t", int64(i), v); ok {
			got = append(got, fmt.Sprintf("%s→%s at %v", x.Previous, x.State, x.Value))
		}
	}
	want := []string{"ok→warning at 26.1", "warning→alarm at 30.1", "alarm→warning at 29.4", "warning→ok at 25.4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
