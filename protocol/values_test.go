package protocol

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
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

func TestSeriesJoin(t *testing.T) {
	r := &DataResult{
		Data: map[string]Values{"a": Numbers(1, 2), "b": Numbers(3, 4, 5), "c": Strings("x", "y"), "lone": Bools(true)},
		Timeline: map[string]TimelineData{
			"t2":  {T: []float64{1, 2}},
			"t2b": {T: []float64{1.5, 2.5}},
			"t3":  {T: []float64{1, 2, 3}},
		},
	}
	for _, tc := range []struct {
		field, timeline, want string
		ok                    bool
	}{
		{"a", "t2", "t2", true},   // as declared
		{"a", "t2b", "t2b", true}, // as declared, though another has the length
		{"b", "gone", "t3", true}, // moved: the only timeline of its length
		{"b", "t2", "t3", true},   // declared timeline of the wrong length
		{"a", "", "", false},      // two timelines of its length
		{"lone", "t2", "", false}, // no timeline of its length
		{"none", "t2", "", false}, // no such field
	} {
		s, ok := r.Series(tc.field, tc.timeline)
		if ok != tc.ok || s.Timeline != tc.want {
			t.Errorf("Series(%s, %s) = %q, %v; want %q, %v", tc.field, tc.timeline, s.Timeline, ok, tc.want, tc.ok)
		}
	}
	s, _ := r.Series("c", "t2b")
	if want := (Series{Field: "c", Timeline: "t2b", Times: []int64{1.5e9, 2.5e9}, Values: Strings("x", "y")}); !reflect.DeepEqual(s, want) {
		t.Errorf("joined %+v, want %+v", s, want)
	}
	all := r.AllSeries(func(f string) string { return map[string]string{"a": "t2", "c": "t2b"}[f] })
	var names []string
	for _, s := range all {
		names = append(names, s.Field+"@"+s.Timeline)
	}
	if want := []string{"a@t2", "b@t3", "c@t2b"}; !reflect.DeepEqual(names, want) {
		t.Errorf("AllSeries = %v, want %v", names, want)
	}
}

func TestResultRoundTrip(t *testing.T) {
	in := []Series{
		{Field: "a", Timeline: "tl", Times: []int64{1e9, 2e9}, Values: Numbers(1, 2)},
		{Field: "b", Timeline: "tl", Times: []int64{2e9}, Values: Bools(true)},
	}
	r, err := DecodeDataResult(EncodeResult(in, nil))
	if err != nil {
		t.Fatal(err)
	}
	var part DataResult
	if err := part.Append(r); err != nil {
		t.Fatal(err)
	}
	if err := part.Append(r); err != nil {
		t.Fatal(err)
	}
	b, _ := part.Series("b", "tl")
	if b.Len() != 4 || !b.Values.At(0).Missing() || b.Values.At(1) != Bool(true) {
		t.Errorf("b after two slices = %+v", b)
	}
	js := jsonOf(t, r)
	if want := `{"data":{"a":[1,2],"b":[null,true]},"timeline":{"tl":{"t":[1,2],"finalized_until":null}}}`; js != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
	var back DataResult
	if err := json.Unmarshal([]byte(js), &back); err != nil || !reflect.DeepEqual(back.Data, r.Data) {
		t.Errorf("JSON round trip %+v, %v", back, err)
	}
}

// TestJoinFixture runs the join cases the dashboard's mirror of the rule
// (consumers/web/src/data.js timelineOf) is tested against too.
func TestJoinFixture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "join.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Result DataResult
		Cases  []struct {
			Field, Declared string
			Want            *string
		}
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Cases {
		s, ok := fx.Result.Series(c.Field, c.Declared)
		if ok != (c.Want != nil) || (ok && s.Timeline != *c.Want) {
			t.Errorf("Series(%q, %q) = %q, %v; want %v", c.Field, c.Declared, s.Timeline, ok, c.Want)
		}
	}
}

func TestNodeInfoWireRoundTrip(t *testing.T) {
	in := NodeInfo{Name: "n1", Description: "d", Session: 7, Joined: 1.5, LastSeen: 2.5,
		Fields:    map[string]FieldInfo{"a": {Timeline: "tl", Type: TypeNumber, Units: Ptr("K")}},
		Timelines: map[string]TimelineInfo{"tl": {Interval: Ptr(1.0), Fields: []string{"a"}}},
		Meta:      map[string]any{"version": "1.0"}}
	got, err := DecodeNodeInfos([]any{in.Wire()})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], in) {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, in)
	}
	if s, err := DecodeNodeSummary(in.Summary().Wire()); err != nil || s != in.Summary() {
		t.Errorf("summary round trip = %+v, %v", s, err)
	}
}
