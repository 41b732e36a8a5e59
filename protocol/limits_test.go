package protocol

import (
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
