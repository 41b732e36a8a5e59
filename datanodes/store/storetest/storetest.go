// Package storetest is the conformance suite every store.Store passes:
// implementations call Run from their tests, and durable ones also Reopen.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// T0 is an hour-aligned time (nanoseconds) near 2023-11 the suite's
// readings start at, so buckets of whole minutes and hours line up with
// any rollups a store keeps.
const T0 = int64(1699999200) * int64(time.Second)

// S returns T0 plus sec seconds, in nanoseconds.
func S(sec float64) int64 { return T0 + int64(sec*float64(time.Second)) }

// Run runs the conformance suite. open returns a new, empty store; Run
// closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"VisibleBeforeFlush", testVisibleBeforeFlush},
		{"HalfOpen", testHalfOpen},
		{"OutOfOrderAndDuplicates", testOutOfOrder},
		{"ReplaceAcrossFlushes", testReplaceAcrossFlushes},
		{"UnknownAndRepeatedFields", testUnknownFields},
		{"Empty", testEmpty},
		{"Fields", testFields},
		{"PutFieldsUpdates", testPutFieldsUpdates},
		{"Aggregations", testAggs},
		{"NonNumberAggregatesLast", testNonNumberAgg},
		{"BucketAlignment", testAlignment},
		{"Limit", testLimit},
		{"BadInput", testBadInput},
		{"ContextCanceled", testCanceled},
		{"Concurrent", testConcurrent},
		{"LongRangeMatchesRaw", testLongRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// Reopen checks that flushed readings and field metadata survive closing
// and reopening a durable store. open opens the store kept in dir.
func Reopen(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	data := ramp("a", 0, 500, 1)
	mustAppend(t, s, data...)
	mustAppend(t, s, protocol.Reading{Field: "flag", Time: S(3), Value: true}, protocol.Reading{Field: "msg", Time: S(4), Value: "hi"})
	if err := s.PutFields(ctx, []store.FieldMeta{{Name: "a", Units: "K", Type: protocol.TypeNumber, Timeline: "tl", Interval: int64(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	got := query(t, s, store.Query{Fields: []string{"a", "flag", "msg"}, Start: S(0), End: S(1000)})
	want := []protocol.Series{expect("a", data), ser("flag", []int64{S(3)}, true), ser("msg", []int64{S(4)}, "hi")}
	Equal(t, want, got)
	got = query(t, s, store.Query{Fields: []string{"a"}, Start: S(0), End: S(1000), Bucket: int64(time.Minute), Agg: protocol.AggMinMax})
	Equal(t, []protocol.Series{reference("a", data, S(0), S(1000), int64(time.Minute), protocol.AggMinMax)}, got)
	fs, err := s.Fields(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := find(t, fs, "a")
	if f.Units != "K" || f.Timeline != "tl" || f.Interval != int64(time.Second) || f.First != S(0) || f.Last != S(499) {
		t.Errorf("field a after reopen = %+v", f)
	}
}

// Equal fails t unless got equals want: same fields, times and values,
// number values within a relative 1e-9 (sums may round differently).
func Equal(t testing.TB, want, got []protocol.Series) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d series %v, want %d %v", len(got), names(got), len(want), names(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Field != g.Field {
			t.Fatalf("series %d is %q, want %q", i, g.Field, w.Field)
		}
		if len(g.Times) != g.Values.Len() {
			t.Fatalf("%s: %d times but %d values", g.Field, len(g.Times), g.Values.Len())
		}
		if len(w.Times) != len(g.Times) {
			t.Fatalf("%s: got %d points, want %d\ngot  %v\nwant %v", w.Field, len(g.Times), len(w.Times), head(g.Times), head(w.Times))
		}
		for j := range w.Times {
			if w.Times[j] != g.Times[j] || !sameValue(w.Values.At(j), g.Values.At(j)) {
				t.Fatalf("%s point %d: got (%d, %#v), want (%d, %#v)", w.Field, j, g.Times[j]-T0, g.Values.At(j).Any(), w.Times[j]-T0, w.Values.At(j).Any())
			}
		}
	}
}

func sameValue(a, b protocol.Value) bool {
	if a.Type == protocol.TypeNumber && b.Type == protocol.TypeNumber {
		fa, fb := a.Num, b.Num
		if fa == fb || (math.IsNaN(fa) && math.IsNaN(fb)) {
			return true
		}
		return math.Abs(fa-fb) <= 1e-9*math.Max(math.Abs(fa), math.Abs(fb))
	}
	return a == b
}

func head(ts []int64) []int64 {
	out := make([]int64, 0, 6)
	for i, t := range ts {
		if i == 6 {
			break
		}
		out = append(out, t-T0)
	}
	return out
}

func names(ss []protocol.Series) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Field)
	}
	return out
}

func mustAppend(t testing.TB, s store.Store, rs ...protocol.Reading) {
	t.Helper()
	if err := s.Append(context.Background(), Columns(t, rs...)); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// Columns returns readings as the typed columns Append takes, failing t
// on readings protocol.Columns rejects.
func Columns(t testing.TB, rs ...protocol.Reading) []protocol.Series {
	t.Helper()
	cols, err := protocol.Columns(rs)
	if err != nil {
		t.Fatalf("Columns: %v", err)
	}
	return cols
}

// ser returns the series of field with the given times and values.
func ser(field string, times []int64, vals ...any) protocol.Series {
	vs, err := protocol.ValuesOf(vals...)
	if err != nil {
		panic(err)
	}
	return protocol.Series{Field: field, Times: times, Values: vs}
}

func query(t testing.TB, s store.Store, q store.Query) []protocol.Series {
	t.Helper()
	got, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return got
}

// ramp returns n readings of field every step seconds from S(from), valued
// 0, 1, 2, ...
func ramp(field string, from float64, n int, step float64) []protocol.Reading {
	rs := make([]protocol.Reading, n)
	for i := range rs {
		rs[i] = protocol.Reading{Field: field, Time: S(from + float64(i)*step), Value: float64(i)}
	}
	return rs
}

// expect returns the raw series of rs, which must be time ordered and of
// one field.
func expect(field string, rs []protocol.Reading) protocol.Series {
	s := protocol.Series{Field: field}
	for _, r := range rs {
		s.Times = append(s.Times, r.Time)
		v, err := protocol.ValueOf(r.Value)
		if err == nil {
			err = s.Values.Append(v)
		}
		if err != nil {
			panic(err)
		}
	}
	return s
}

// reference computes the expected bucketed series of time-ordered,
// duplicate-free readings of one field, by the definition.
func reference(field string, rs []protocol.Reading, start, end, w int64, agg string) protocol.Series {
	var in []protocol.Reading
	for _, r := range rs {
		if r.Time >= start && r.Time < end {
			in = append(in, r)
		}
	}
	s := expect(field, in)
	if w > 0 {
		var err error
		if s.Times, s.Values, err = downsample.Apply(s.Times, s.Values, w, agg); err != nil {
			panic(err)
		}
	}
	return s
}

func find(t testing.TB, fs []store.FieldMeta, name string) store.FieldMeta {
	t.Helper()
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("field %q missing from %+v", name, fs)
	return store.FieldMeta{}
}

func fieldNames(fs []store.FieldMeta) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	slices.Sort(out)
	return out
}

func testRoundTrip(t *testing.T, s store.Store) {
	num := ramp("temp", 0, 100, 1)
	var flags, msgs []protocol.Reading
	for i := range 10 {
		flags = append(flags, protocol.Reading{Field: "on", Time: S(float64(i)), Value: i%2 == 0})
		msgs = append(msgs, protocol.Reading{Field: "state", Time: S(float64(i) + 0.5), Value: fmt.Sprintf("s%d", i)})
	}
	mustAppend(t, s, num...)
	mustAppend(t, s, append(flags, msgs...)...)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := query(t, s, store.Query{Fields: []string{"state", "temp", "on"}, Start: S(0), End: S(1000)})
	Equal(t, []protocol.Series{expect("state", msgs), expect("temp", num), expect("on", flags)}, got)
	// Values of other Go number types come back as float64.
	mustAppend(t, s, protocol.Reading{Field: "n", Time: S(1), Value: 3}, protocol.Reading{Field: "n", Time: S(2), Value: float32(0.5)})
	got = query(t, s, store.Query{Fields: []string{"n"}, Start: S(0), End: S(10)})
	Equal(t, []protocol.Series{ser("n", []int64{S(1), S(2)}, 3.0, 0.5)}, got)
}

func testVisibleBeforeFlush(t *testing.T, s store.Store) {
	rs := ramp("x", 0, 10, 1)
	mustAppend(t, s, rs...)
	Equal(t, []protocol.Series{expect("x", rs)}, query(t, s, store.Query{Fields: []string{"x"}, Start: S(0), End: S(100)}))
	fs, err := s.Fields(context.Background(), S(0), S(1))
	if err != nil {
		t.Fatal(err)
	}
	if f := find(t, fs, "x"); f.First != S(0) || f.Last != S(9) {
		t.Errorf("x First/Last = %d/%d", f.First-T0, f.Last-T0)
	}
}

func testHalfOpen(t *testing.T, s store.Store) {
	rs := ramp("x", 10, 3, 10) // at 10, 20, 30
	mustAppend(t, s, rs...)
	Equal(t, []protocol.Series{expect("x", rs[:2])}, query(t, s, store.Query{Fields: []string{"x"}, Start: S(10), End: S(30)}))
	Equal(t, []protocol.Series{expect("x", rs[1:])}, query(t, s, store.Query{Fields: []string{"x"}, Start: S(10) + 1, End: S(30) + 1}))
	Equal(t, []protocol.Series{expect("x", rs[1:2])}, query(t, s, store.Query{Fields: []string{"x"}, Start: S(20), End: S(20) + 1}))
}

func testOutOfOrder(t *testing.T, s store.Store) {
	mustAppend(t, s,
		protocol.Reading{Field: "x", Time: S(30), Value: 3.0},
		protocol.Reading{Field: "x", Time: S(10), Value: 1.0},
		protocol.Reading{Field: "x", Time: S(20), Value: 2.0},
		protocol.Reading{Field: "x", Time: S(10), Value: 1.5}, // later in the same batch wins
	)
	mustAppend(t, s, protocol.Reading{Field: "x", Time: S(5), Value: 0.5}, protocol.Reading{Field: "x", Time: S(20), Value: 2.5})
	want := ser("x", []int64{S(5), S(10), S(20), S(30)}, 0.5, 1.5, 2.5, 3.0)
	Equal(t, []protocol.Series{want}, query(t, s, store.Query{Fields: []string{"x"}, Start: S(0), End: S(100)}))
	got := query(t, s, store.Query{Fields: []string{"x"}, Start: S(0), End: S(120), Bucket: int64(time.Minute), Agg: protocol.AggMax})
	Equal(t, []protocol.Series{ser("x", []int64{S(0)}, 3.0)}, got)
}

// testReplaceAcrossFlushes replaces flushed readings, which stores keeping
// rollups must fold into them correctly.
func testReplaceAcrossFlushes(t *testing.T, s store.Store) {
	ctx := context.Background()
	rs := ramp("x", 0, 7200, 1)
	rs[100].Value = 1000.0 // spike
	mustAppend(t, s, rs...)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rs[100].Value = 100.0 // the spike was wrong
	rs[3700].Value = -5.0
	mustAppend(t, s, rs[100], rs[3700])
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []time.Duration{time.Minute, time.Hour} {
		for _, agg := range []string{protocol.AggMean, protocol.AggMin, protocol.AggMax, protocol.AggMinMax, protocol.AggLast} {
			q := store.Query{Fields: []string{"x"}, Start: S(0), End: S(7200), Bucket: int64(w), Agg: agg}
			Equal(t, []protocol.Series{reference("x", rs, q.Start, q.End, q.Bucket, agg)}, query(t, s, q))
		}
	}
}

func testUnknownFields(t *testing.T, s store.Store) {
	rs := ramp("a", 0, 5, 1)
	mustAppend(t, s, rs...)
	got := query(t, s, store.Query{Fields: []string{"nope", "a", "a", "other"}, Start: S(0), End: S(10)})
	Equal(t, []protocol.Series{expect("a", rs)}, got)
	got = query(t, s, store.Query{Fields: []string{"nope"}, Start: S(0), End: S(10), Bucket: int64(time.Second)})
	if len(got) != 0 {
		t.Errorf("unknown field gave %v", names(got))
	}
}

func testEmpty(t *testing.T, s store.Store) {
	mustAppend(t, s, ramp("a", 100, 5, 1)...)
	for _, q := range []store.Query{
		{Fields: []string{"a"}, Start: S(0), End: S(100)},
		{Fields: []string{"a"}, Start: S(0), End: S(100), Bucket: int64(time.Minute)},
		{Fields: []string{"a"}, Start: S(200), End: S(100)},
		{Fields: []string{"a"}, Start: S(101), End: S(101)},
		{Fields: nil, Start: S(0), End: S(1000)},
	} {
		if got := query(t, s, q); len(got) != 0 {
			t.Errorf("Query(%+v) = %v, want nothing", q, names(got))
		}
	}
}

func testFields(t *testing.T, s store.Store) {
	ctx := context.Background()
	if fs, err := s.Fields(ctx, 0, 0); err != nil || len(fs) != 0 {
		t.Fatalf("empty store Fields = %v, %v", fs, err)
	}
	meta := []store.FieldMeta{
		{Name: "a", Description: "first", Units: "V", Type: protocol.TypeNumber, Timeline: "t1", Interval: int64(time.Second), First: 1, Last: 2},
		{Name: "b", Description: "second", Type: protocol.TypeBool, Timeline: "t2"},
		{Name: "c", Description: "no data yet", Type: protocol.TypeString, Timeline: "t3"},
	}
	if err := s.PutFields(ctx, meta); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, ramp("a", 0, 10, 1)...)                                        // 0..9
	mustAppend(t, s, protocol.Reading{Field: "b", Time: S(100), Value: true})       // 100
	mustAppend(t, s, protocol.Reading{Field: "b", Time: S(50), Value: false})       // 50..100
	mustAppend(t, s, protocol.Reading{Field: "undeclared", Time: S(5), Value: "x"}) // 5
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Fields(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldNames(fs); !slices.Equal(got, []string{"a", "b", "c", "undeclared"}) {
		t.Fatalf("Fields(0, 0) = %v", got)
	}
	a := find(t, fs, "a")
	want := meta[0]
	want.First, want.Last = S(0), S(9)
	if a != want {
		t.Errorf("a = %+v, want %+v", a, want)
	}
	if b := find(t, fs, "b"); b.First != S(50) || b.Last != S(100) || b.Type != protocol.TypeBool || b.Timeline != "t2" {
		t.Errorf("b = %+v", b)
	}
	if c := find(t, fs, "c"); c.First != 0 || c.Last != 0 || c.Description != "no data yet" {
		t.Errorf("c = %+v", c)
	}
	if u := find(t, fs, "undeclared"); u.Type != protocol.TypeString || u.First != S(5) {
		t.Errorf("undeclared = %+v", u)
	}
	for _, tc := range []struct {
		start, end int64
		want       []string
	}{
		{S(0), S(1), []string{"a"}},
		{S(9), S(10), []string{"a"}},
		{S(10), S(50), nil},
		{S(4), S(51), []string{"a", "b", "undeclared"}},
		{S(60), S(70), []string{"b"}}, // within b's span
		{S(100), S(1000), []string{"b"}},
		{S(101), S(1000), nil},
		{S(-100), S(0), nil},
	} {
		fs, err := s.Fields(ctx, tc.start, tc.end)
		if err != nil {
			t.Fatal(err)
		}
		if got := fieldNames(fs); !slices.Equal(got, tc.want) {
			t.Errorf("Fields(%d, %d) = %v, want %v", tc.start-T0, tc.end-T0, got, tc.want)
		}
	}
}

func testPutFieldsUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, ramp("a", 0, 3, 1)...)
	for _, d := range []string{"one", "two"} {
		if err := s.PutFields(ctx, []store.FieldMeta{{Name: "a", Description: d, Units: d, Type: protocol.TypeNumber, Timeline: d}}); err != nil {
			t.Fatal(err)
		}
		fs, err := s.Fields(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].Description != d || fs[0].Units != d || fs[0].Timeline != d || fs[0].First != S(0) || fs[0].Last != S(2) {
			t.Errorf("after PutFields(%s): %+v", d, fs)
		}
	}
}

func testAggs(t *testing.T, s store.Store) {
	// Minute 0: flat 1.0 with a one-sample spike up at 30 s and down at 40 s.
	// Minute 1: one reading. Minute 2: empty. Minute 3: rising.
	var rs []protocol.Reading
	for i := range 60 {
		v := 1.0
		switch i {
		case 30:
			v = 100
		case 40:
			v = -50
		}
		rs = append(rs, protocol.Reading{Field: "x", Time: S(float64(i)), Value: v})
	}
	rs = append(rs, protocol.Reading{Field: "x", Time: S(75), Value: 7.0})
	for i := range 4 {
		rs = append(rs, protocol.Reading{Field: "x", Time: S(float64(180 + 10*i)), Value: float64(i)})
	}
	mustAppend(t, s, rs...)
	m := int64(time.Minute)
	mean0 := (58.0 + 100 - 50) / 60
	for _, tc := range []struct {
		agg   string
		times []int64
		vals  []any
	}{
		{"", []int64{S(0), S(60), S(180)}, []any{mean0, 7.0, 1.5}},
		{protocol.AggMean, []int64{S(0), S(60), S(180)}, []any{mean0, 7.0, 1.5}},
		{protocol.AggMin, []int64{S(0), S(60), S(180)}, []any{-50.0, 7.0, 0.0}},
		{protocol.AggMax, []int64{S(0), S(60), S(180)}, []any{100.0, 7.0, 3.0}},
		{protocol.AggLast, []int64{S(0), S(60), S(180)}, []any{1.0, 7.0, 3.0}},
		{protocol.AggMinMax, []int64{S(0), S(0), S(60), S(180), S(180)}, []any{100.0, -50.0, 7.0, 0.0, 3.0}},
	} {
		t.Run(tc.agg, func(t *testing.T) {
			got := query(t, s, store.Query{Fields: []string{"x"}, Start: S(0), End: S(240), Bucket: m, Agg: tc.agg})
			Equal(t, []protocol.Series{ser("x", tc.times, tc.vals...)}, got)
		})
	}
	// A spike of one sample survives minmax at any width.
	for _, w := range []time.Duration{time.Second, 7 * time.Second, time.Minute, time.Hour} {
		got := query(t, s, store.Query{Fields: []string{"x"}, Start: S(0), End: S(3600), Bucket: int64(w), Agg: protocol.AggMinMax})
		if len(got) != 1 || !slices.Contains(got[0].Values.Nums, 100.0) || !slices.Contains(got[0].Values.Nums, -50.0) {
			t.Errorf("minmax at %v lost a spike: %v", w, got)
		}
	}
}

func testNonNumberAgg(t *testing.T, s store.Store) {
	mustAppend(t, s,
		protocol.Reading{Field: "b", Time: S(1), Value: true},
		protocol.Reading{Field: "b", Time: S(2), Value: false},
		protocol.Reading{Field: "s", Time: S(1), Value: "a"},
		protocol.Reading{Field: "s", Time: S(3), Value: "c"},
		protocol.Reading{Field: "s", Time: S(2), Value: "b"},
	)
	for _, agg := range []string{protocol.AggMean, protocol.AggMin, protocol.AggMax, protocol.AggLast, protocol.AggMinMax} {
		got := query(t, s, store.Query{Fields: []string{"b", "s"}, Start: S(0), End: S(60), Bucket: int64(time.Minute), Agg: agg})
		Equal(t, []protocol.Series{ser("b", []int64{S(0)}, false), ser("s", []int64{S(0)}, "c")}, got)
	}
}

func testAlignment(t *testing.T, s store.Store) {
	rs := ramp("x", 3, 100, 1) // 3..102
	mustAppend(t, s, rs...)
	for _, w := range []int64{int64(10 * time.Second), int64(7 * time.Second), int64(time.Minute), 3_000_000_001} {
		q := store.Query{Fields: []string{"x"}, Start: S(5), End: S(95), Bucket: w, Agg: protocol.AggMean}
		got := query(t, s, q)
		Equal(t, []protocol.Series{reference("x", rs, q.Start, q.End, w, q.Agg)}, got)
		for i, ts := range got[0].Times {
			if ts%w != 0 {
				t.Errorf("width %d: point %d at %d not aligned", w, i, ts)
			}
			if i > 0 && ts <= got[0].Times[i-1] {
				t.Errorf("width %d: times not ascending", w)
			}
		}
		if first := got[0].Times[0]; first > q.Start || first+w <= q.Start {
			t.Errorf("width %d: first bucket %d does not hold the start", w, first-T0)
		}
	}
}

func testLimit(t *testing.T, s store.Store) {
	mustAppend(t, s, ramp("a", 0, 100, 1)...)
	mustAppend(t, s, ramp("b", 0, 50, 2)...)
	check := func(q store.Query, points int) {
		t.Helper()
		got, err := s.Query(context.Background(), q)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Kind != protocol.TooMuchData {
			t.Fatalf("Query(%+v) = %d series, %v; want too_much_data", q, len(got), err)
		}
		if got != nil {
			t.Errorf("too_much_data came with a result")
		}
		if n, _ := pe.Details["points"].(int); n != points {
			t.Errorf("Details[points] = %v, want %d", pe.Details["points"], points)
		}
		q.Limit = points
		got = query(t, s, q)
		n := 0
		for _, sr := range got {
			n += len(sr.Times)
		}
		if n != points {
			t.Errorf("with Limit = %d got %d points", points, n)
		}
	}
	check(store.Query{Fields: []string{"a"}, Start: S(0), End: S(100), Limit: 99}, 100)
	check(store.Query{Fields: []string{"a", "b"}, Start: S(0), End: S(100), Limit: 120}, 150)
	check(store.Query{Fields: []string{"a", "b"}, Start: S(0), End: S(100), Limit: 1}, 150)
	check(store.Query{Fields: []string{"a"}, Start: S(0), End: S(100), Bucket: int64(10 * time.Second), Limit: 9}, 10)
	// minmax gives two points per bucket of a ramp.
	check(store.Query{Fields: []string{"a"}, Start: S(0), End: S(100), Bucket: int64(10 * time.Second), Agg: protocol.AggMinMax, Limit: 10}, 20)
	check(store.Query{Fields: []string{"a", "b"}, Start: S(0), End: S(100), Bucket: int64(time.Minute), Agg: protocol.AggMinMax, Limit: 7}, 8)
}

func testBadInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Values that are no reading never become a column.
	for _, r := range []protocol.Reading{
		{Field: "a", Time: S(1), Value: struct{}{}},
		{Field: "a", Time: S(1), Value: nil},
	} {
		if _, err := protocol.Columns([]protocol.Reading{{Field: "ok", Time: S(0), Value: 1.0}, r}); !protocol.IsKind(err, protocol.InvalidArgument) {
			t.Errorf("Columns(%+v) = %v, want invalid_argument", r, err)
		}
	}
	ok := ser("ok", []int64{S(0)}, 1.0)
	for _, bad := range []protocol.Series{
		ser("", []int64{S(1)}, 1.0),
		ser("bad name", []int64{S(1)}, 1.0),
		ser("a", []int64{S(1), S(2)}, 1.0),
		ser("a", []int64{S(1)}, math.NaN()),
		ser("a", []int64{S(1)}, math.Inf(1)),
		{Field: "a", Times: []int64{S(1)}, Values: protocol.Values{Type: "complex", Missing: []bool{true}}},
		ser("a", []int64{S(1)}, nil),
	} {
		if err := s.Append(ctx, []protocol.Series{ok, bad}); !protocol.IsKind(err, protocol.InvalidArgument) {
			t.Errorf("Append(%+v) = %v, want invalid_argument", bad, err)
		}
	}
	if got := query(t, s, store.Query{Fields: []string{"ok", "a"}, Start: S(0), End: S(10)}); len(got) != 0 {
		t.Errorf("a rejected batch stored %v", names(got))
	}
	for _, q := range []store.Query{
		{Fields: []string{"a"}, Start: S(0), End: S(1), Bucket: 1, Agg: "median"},
		{Fields: []string{"a"}, Start: S(0), End: S(1), Bucket: -1},
		{Fields: []string{"a"}, Start: S(0), End: S(1), Limit: -1},
	} {
		if _, err := s.Query(ctx, q); !protocol.IsKind(err, protocol.InvalidArgument) {
			t.Errorf("Query(%+v) = %v, want invalid_argument", q, err)
		}
	}
	if err := s.PutFields(ctx, []store.FieldMeta{{Name: "bad name"}}); !protocol.IsKind(err, protocol.InvalidArgument) {
		t.Errorf("PutFields(bad name) = %v, want invalid_argument", err)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	mustAppend(t, s, ramp("a", 0, 10, 1)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: S(0), End: S(10)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query = %v, want context.Canceled", err)
	}
	if _, err := s.Fields(ctx, 0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Fields = %v, want context.Canceled", err)
	}
	if err := s.Append(ctx, Columns(t, ramp("a", 10, 1, 1)...)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append = %v, want context.Canceled", err)
	}
	// The store still works afterwards.
	Equal(t, []protocol.Series{expect("a", ramp("a", 0, 10, 1))}, query(t, s, store.Query{Fields: []string{"a"}, Start: S(0), End: S(100)}))
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers, batches, per = 4, 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			field := fmt.Sprintf("w%d", w)
			for b := range batches {
				if err := s.Append(ctx, Columns(t, ramp(field, float64(b*per), per, 1)...)); err != nil {
					errs <- err
					return
				}
				if b%7 == 0 {
					if err := s.Flush(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Query(ctx, store.Query{Fields: []string{"w0", "w1", "w2", "w3"}, Start: S(0), End: S(batches * per), Bucket: int64(time.Minute), Agg: protocol.AggMinMax})
				if err != nil {
					errs <- err
					return
				}
				for _, sr := range got {
					if len(sr.Times) != sr.Values.Len() {
						errs <- fmt.Errorf("%s: %d times, %d values", sr.Field, len(sr.Times), sr.Values.Len())
						return
					}
				}
				if _, err := s.Fields(ctx, S(0), S(10)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Stop the readers once the writers are through.
	go func() {
		for {
			got, err := s.Query(ctx, store.Query{Fields: []string{"w0", "w1", "w2", "w3"}, Start: S(0), End: S(batches * per), Limit: 0})
			if err != nil {
				errs <- err
				break
			}
			n := 0
			for _, sr := range got {
				n += len(sr.Times)
			}
			if n == writers*batches*per {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(done)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		field := fmt.Sprintf("w%d", w)
		var all []protocol.Reading
		for b := range batches {
			all = append(all, ramp(field, float64(b*per), per, 1)...)
		}
		Equal(t, []protocol.Series{expect(field, all)}, query(t, s, store.Query{Fields: []string{field}, Start: S(0), End: S(batches * per)}))
	}
}

// testLongRange compares bucketed queries over hours of irregular data with
// the definition, at widths that rollups can serve and ones they cannot,
// over windows that do and do not line up with minutes and hours.
func testLongRange(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rs []protocol.Reading
	for sec := 0.0; sec < 4*3600; sec += 0.5 + rng.Float64() {
		if sec > 5000 && sec < 6000 { // a gap
			continue
		}
		v := math.Round(rng.NormFloat64()*1000) / 8
		if rng.IntN(500) == 0 {
			v *= 100
		}
		rs = append(rs, protocol.Reading{Field: "x", Time: S(sec), Value: v})
	}
	// Append in shuffled batches, flushing between some.
	shuffled := slices.Clone(rs)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i := 0; i < len(shuffled); i += 3000 {
		mustAppend(t, s, shuffled[i:min(i+3000, len(shuffled))]...)
		if i%6000 == 0 {
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	windows := [][2]int64{{S(0), S(4 * 3600)}, {S(-100), S(5 * 3600)}, {S(59.5), S(3*3600 + 61.25)}, {S(3599), S(7201)}, {S(4000), S(7000)}, {S(5100), S(5900)}}
	widths := []time.Duration{time.Second, 7 * time.Second, time.Minute, 2 * time.Minute, 90 * time.Second,
		7*time.Minute + 13*time.Second, time.Hour, 2 * time.Hour, 4*time.Hour + 7*time.Second, 24 * time.Hour}
	for _, win := range windows {
		for _, w := range widths {
			for _, agg := range []string{protocol.AggMean, protocol.AggMin, protocol.AggMax, protocol.AggLast, protocol.AggMinMax} {
				q := store.Query{Fields: []string{"x"}, Start: win[0], End: win[1], Bucket: int64(w), Agg: agg}
				want := reference("x", rs, q.Start, q.End, q.Bucket, agg)
				got := query(t, s, q)
				if len(want.Times) == 0 {
					Equal(t, nil, got)
					continue
				}
				t.Run(fmt.Sprintf("%v-%v/%v/%s", (win[0]-T0)/1e9, (win[1]-T0)/1e9, w, agg), func(t *testing.T) {
					Equal(t, []protocol.Series{want}, got)
				})
				if pts := len(want.Times); pts > 1 {
					q.Limit = pts - 1
					_, err := s.Query(context.Background(), q)
					var pe *protocol.Error
					if !errors.As(err, &pe) || pe.Kind != protocol.TooMuchData || pe.Details["points"] != pts {
						t.Errorf("%+v: %v, want too_much_data with %d points", q, err, pts)
					}
				}
			}
		}
	}
}
