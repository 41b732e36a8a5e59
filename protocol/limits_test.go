package protocol

import (
	"reflect"
	"testing"
)

func limits(wlo, whi, alo, ahi, h float64) Limits {
	return Limits{Warning: &Range{Low: Ptr(wlo), High: Ptr(whi)}, Alarm: &Range{Low: Ptr(alo), High: Ptr(ahi)}, Hysteresis: h}
}

// TestLimitsHysteresis walks a value up through the bounds and back while
// it jitters at each bound: each state is entered once and left once.
func TestLimitsHysteresis(t *testing.T) {
	l := limits(18, 26, 15, 30, 0.5)
	values := []float64{20, 25.9, 26.1, 25.9, 26.1, 25.8, 29.9, 30.1, 29.9, 30.1, 29.6, 29.4, 25.6, 25.4, 20}
	want := []string{"ok", "ok", "warning", "warning", "warning", "warning", "warning", "alarm", "alarm", "alarm", "alarm", "warning", "warning", "ok", "ok"}
	cur := LimitOK
	var got []string
	for _, v := range values {
		cur = l.Next(cur, v)
		got = append(got, cur)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states\n got %v\nwant %v", got, want)
	}
	// Below: the same from the low side, and straight from ok to alarm.
	for _, step := range []struct {
		cur  string
		v    float64
		want string
	}{{"ok", 14, "alarm"}, {"alarm", 15.2, "alarm"}, {"alarm", 15.6, "warning"}, {"warning", 18.2, "warning"}, {"warning", 18.6, "ok"}, {"alarm", 22, "ok"}} {
		if got := l.Next(step.cur, step.v); got != step.want {
			t.Errorf("Next(%s, %v) = %s, want %s", step.cur, step.v, got, step.want)
		}
	}
}

func TestLimitsDefaultsAndCheck(t *testing.T) {
	if h := limits(18, 26, 15, 30, 0).DefaultHysteresis(); h != 0.08 {
		t.Errorf("default hysteresis %v, want 1%% of the warning band (0.08)", h)
	}
	if h := (Limits{Alarm: &Range{High: Ptr(1000.0)}}).DefaultHysteresis(); h != 10 {
		t.Errorf("one-sided default hysteresis %v, want 10", h)
	}
	for _, bad := range []Limits{
		{},
		{Warning: &Range{}},
		{Warning: &Range{Low: Ptr(5.0), High: Ptr(1.0)}},
		limits(10, 30, 15, 25, 0),
		limits(18, 26, 15, 30, -1),
	} {
		if bad.Check() == nil {
			t.Errorf("Check(%+v) accepted", bad)
		}
	}
	if err := limits(18, 26, 15, 30, 0).Check(); err != nil {
		t.Error(err)
	}
}

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
