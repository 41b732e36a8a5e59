package protocol

import (
	"math"
	"testing"
)

func TestDecodeTimelineMapFieldShapes(t *testing.T) {
	got, err := DecodeTimelineMap(map[string]any{
		"a": map[string]any{"interval": 1.5, "field": []any{"x", "y"}},
		"b": map[string]any{"interval": nil, "field": "z"},             // apex_weather
		"c": map[string]any{"fields": []any{"w"}},                      // so3g
		"d": map[string]any{"field": []any{"v"}, "fields": []any{"v"}}, // telemesh
	})
	if err != nil {
		t.Fatal(err)
	}
	if *got["a"].Interval != 1.5 || len(got["a"].Fields) != 2 || got["b"].Interval != nil ||
		got["b"].Fields[0] != "z" || got["c"].Fields[0] != "w" || len(got["d"].Fields) != 1 {
		t.Errorf("decoded %+v", got)
	}
	if _, err := DecodeTimelineMap("nope"); !IsKind(err, InvalidArgument) {
		t.Errorf("bad map: %v", err)
	}
}

func TestDecodeFieldMapDefaults(t *testing.T) {
	got, err := DecodeFieldMap(map[string]any{"f": map[string]any{"timeline": "t", "description": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if f := got["f"]; f.Type != TypeNumber || f.Description != nil || f.Units != nil || f.Timeline != "t" {
		t.Errorf("decoded %+v", f)
	}
}

func TestDecodeDataResult(t *testing.T) {
	type dict map[string]any // a named map type, as in-process sessions pass
	got, err := DecodeDataResult(dict{
		"data":     dict{"x": []any{int64(1), math.NaN(), nil, uint8(4)}, "s": []string{"s"}, "b": []any{true, nil}},
		"timeline": dict{"t": dict{"t": []any{uint64(1), 2.5, int8(3), float32(4)}, "finalized_until": 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	x := got.Data["x"]
	if x.Type != TypeNumber || x.Nums[0] != 1.0 || !math.IsNaN(x.Nums[1]) || !x.At(2).Missing() || x.Nums[3] != 4 {
		t.Errorf("data x %+v", x)
	}
	if s := got.Data["s"]; s.Type != TypeString || s.At(0) != Str("s") {
		t.Errorf("data s %+v", s)
	}
	if b := got.Data["b"]; b.Type != TypeBool || b.At(0) != Bool(true) || !b.At(1).Missing() {
		t.Errorf("data b %+v", b)
	}
	tl := got.Timeline["t"]
	if len(tl.T) != 4 || tl.T[1] != 2.5 || tl.T[3] != 4 || *tl.FinalizedUntil != 3 {
		t.Errorf("timeline %+v", tl)
	}
	for _, bad := range []any{"x", map[string]any{"data": 1}, map[string]any{"data": map[string]any{"mixed": []any{1.0, "s"}}}, map[string]any{"timeline": map[string]any{"t": map[string]any{"t": []any{"a"}}}}} {
		if _, err := DecodeDataResult(bad); !IsKind(err, InvalidArgument) {
			t.Errorf("DecodeDataResult(%v) = %v; want invalid_argument", bad, err)
		}
	}
	if r, err := DecodeDataResult(nil); err != nil || r.Data == nil || r.Timeline == nil {
		t.Errorf("nil result: %+v, %v", r, err)
	}
}
