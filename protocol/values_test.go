package protocol

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestValueOf(t *testing.T) {
	for in, want := range map[any]Value{
		int(3): Num(3), uint8(2): Num(2), int64(-4): Num(-4), float32(0.5): Num(0.5), 1.25: Num(1.25),
		true: Bool(true), "s": Str("s"),
	} {
		if got, err := ValueOf(in); err != nil || got != want {
			t.Errorf("ValueOf(%#v) = %#v, %v", in, got, err)
		}
	}
	if v, err := ValueOf(nil); err != nil || !v.Missing() {
		t.Errorf("ValueOf(nil) = %#v, %v", v, err)
	}
	for _, in := range []any{struct{}{}, []byte("x"), map[string]any{}, []any{1.0}} {
		if _, err := ValueOf(in); !IsKind(err, InvalidArgument) {
			t.Errorf("ValueOf(%#v) = %v, want invalid_argument", in, err)
		}
	}
	if f, ok := Bool(true).Float(); !ok || f != 1 {
		t.Errorf("true as a number = %v %v", f, ok)
	}
	if _, ok := Str("x").Float(); ok {
		t.Error("a string is a number")
	}
	if !Num(math.NaN()).Missing() || Num(0).Missing() {
		t.Error("NaN is the missing number, and only NaN")
	}
}

func TestValuesMissing(t *testing.T) {
	// Leading missing values take the type of the first value.
	for _, tc := range []struct {
		in   []any
		typ  string
		wire any
	}{
		{[]any{nil, 1.0, 2.0}, TypeNumber, []any{nil, 1.0, 2.0}},
		{[]any{1.0, 2.0}, TypeNumber, []float64{1, 2}},
		{[]any{nil, "a", nil}, TypeString, []any{nil, "a", nil}},
		{[]any{"a", "b"}, TypeString, []string{"a", "b"}},
		{[]any{true, nil}, TypeBool, []any{true, nil}},
		{[]any{false}, TypeBool, []bool{false}},
		{[]any{nil, nil}, "", []any{nil, nil}},
		{[]any{math.NaN(), 1.0}, TypeNumber, []any{nil, 1.0}},
	} {
		vs, err := ValuesOf(tc.in...)
		if err != nil {
			t.Fatalf("ValuesOf(%v): %v", tc.in, err)
		}
		if vs.Type != tc.typ || vs.Len() != len(tc.in) {
			t.Errorf("ValuesOf(%v) is %d of %q", tc.in, vs.Len(), vs.Type)
		}
		if got := vs.Wire(); !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, tc.wire)) || reflect.TypeOf(got) != reflect.TypeOf(tc.wire) {
			t.Errorf("ValuesOf(%v).Wire() = %#v, want %#v", tc.in, got, tc.wire)
		}
		for i, x := range tc.in {
			if got := vs.At(i).Any(); x != nil && !(x == got || (x.(float64) != x.(float64) && got == nil)) {
				t.Errorf("ValuesOf(%v).At(%d) = %#v", tc.in, i, got)
			}
		}
	}
	if _, err := ValuesOf(1.0, "x"); !IsKind(err, InvalidArgument) {
		t.Errorf("mixed column = %v, want invalid_argument", err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestColumns(t *testing.T) {
	got, err := Columns([]Reading{
		{Field: "a", Time: 3, Value: 3},
		{Field: "b", Time: 1, Value: "x"},
		{Field: "a", Time: 1, Value: float32(1)},
		{Field: "a", Time: 3, Value: 4.0}, // after the first reading at 3
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Series{
		{Field: "a", Times: []int64{1, 3, 3}, Values: Numbers(1, 3, 4)},
		{Field: "b", Times: []int64{1}, Values: Strings("x")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %+v, want %+v", got, want)
	}
	for _, bad := range [][]Reading{
		{{Field: "a", Time: 1, Value: nil}},
		{{Field: "a", Time: 1, Value: struct{}{}}},
		{{Field: "a", Time: 1, Value: 1.0}, {Field: "a", Time: 2, Value: true}},
	} {
		if _, err := Columns(bad); !IsKind(err, InvalidArgument) {
			t.Errorf("Columns(%+v) = %v, want invalid_argument", bad, err)
		}
	}
}

func TestCheckAgg(t *testing.T) {
	for _, a := range Aggs {
		if err := CheckAgg(a); err != nil {
			t.Errorf("CheckAgg(%q) = %v", a, err)
		}
	}
	for _, a := range []string{"", "median", "MEAN"} {
		err := CheckAgg(a)
		if !IsKind(err, InvalidArgument) {
			t.Fatalf("CheckAgg(%q) = %v", a, err)
		}
		if want := `unknown aggregation "` + a + `" (want mean, min, max, last or minmax)`; err.Error() != want {
			t.Errorf("CheckAgg(%q) says %q, want %q", a, err, want)
		}
	}
}

func TestEncodeResult(t *testing.T) {
	fin := 12.5
	got := EncodeResult([]Series{
		{Field: "a", Timeline: "tl", Times: []int64{1e9, 2e9, 2e9}, Values: Numbers(1, 2, 3)},
		{Field: "b", Timeline: "tl", Times: []int64{2e9, 3e9}, Values: Strings("x", "y")},
		{Field: "c", Times: []int64{5e8}, Values: Bools(true)},
		{Field: "empty", Times: nil, Values: Numbers()},
	}, func(tl string) *float64 {
		if tl == "tl" {
			return &fin
		}
		return nil
	})
	want := `{"data":{"a":[1,2,3,null],"b":[null,"x",null,"y"],"c":[true]},` +
		`"timeline":{"c":{"finalized_until":null,"t":[0.5]},"tl":{"finalized_until":12.5,"t":[1,2,2,3]}}}`
	if s := jsonOf(t, got); s != want {
		t.Errorf("EncodeResult =\n%s\nwant\n%s", s, want)
	}
	// A lone series goes out as its typed columns, unboxed.
	one := EncodeResult([]Series{{Field: "a", Times: []int64{1}, Values: Numbers(1)}}, nil)
	if _, ok := one["data"].(map[string]any)["a"].([]float64); !ok {
		t.Errorf("lone number series sent as %T", one["data"].(map[string]any)["a"])
	}
}
