package bridge

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

var tempTarget = Target{Node: "sim", Field: "temperature"}

func fakeRange(d time.Duration) (time.Time, time.Time) {
	from := time.Unix(t0, 0).UTC()
	return from, from.Add(d)
}

// TestAnnotationsLimit wants more transitions than the limit to give the
// latest limit of them and a notice that says so, and no notice within
// the limit.
func TestAnnotationsLimit(t *testing.T) {
	c := NewCore(newFakeSource(), Options{}, nil)
	from, to := fakeRange(24 * time.Hour)
	ctx := context.Background()
	full, err := c.Annotations(ctx, AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	n := len(full.Events)
	if n < 100 || len(full.Notices) != 0 {
		t.Fatalf("24 h of sim::temperature: %d transitions and notices %v, want over 100 and none", n, full.Notices)
	}
	cut, err := c.Annotations(ctx, AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cut.Events, full.Events[n-5:]) {
		t.Errorf("limit 5 kept\n%+v\nwant the latest five\n%+v", cut.Events, full.Events[n-5:])
	}
	if len(cut.Notices) != 1 || !strings.Contains(cut.Notices[0].Text, "latest 5 of") || cut.Notices[0].Time != cut.Events[0].Time {
		t.Errorf("notices %+v, want one saying the latest 5 are shown, at the first", cut.Notices)
	}
	// A limit above the cap is the cap.
	if a, _ := c.Annotations(ctx, AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to, Limit: 5000}); len(a.Events) != n {
		t.Errorf("limit 5000: %d events, want %d", len(a.Events), n)
	}
}

// TestAnnotationsScanBound lets a range hold more readings than the scan
// bound: the transitions are those of the latest readings within the
// bound, and a notice says from when.
func TestAnnotationsScanBound(t *testing.T) {
	src := newFakeSource()
	c := NewCore(src, Options{ScanLimit: 100}, nil)
	from, to := fakeRange(2 * time.Hour)
	a, err := c.Annotations(context.Background(), AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	fd := src.nodes["sim"]["temperature"]
	all := fd.samples("temperature", t0, t0+7200)
	latest := protocol.Series{Field: "temperature", Times: all.Times[len(all.Times)-100:], Values: all.Values.Slice(all.Len()-100, all.Len())}
	want := TransitionEvents(tempTarget, fd.info, latest)
	if len(want) == 0 || !reflect.DeepEqual(a.Events, want) {
		t.Errorf("events\n%+v\nwant those of the latest 100 readings\n%+v", a.Events, want)
	}
	if len(a.Notices) != 1 || !strings.Contains(a.Notices[0].Text, "more than 100 readings") || a.Notices[0].Time != latest.Times[0] {
		t.Errorf("notices %+v, want one at %d saying the range holds more than 100 readings", a.Notices, latest.Times[0])
	}
}

// TestAnnotationsScanWindows scans a range in many small windows and
// wants the same transitions as in one.
func TestAnnotationsScanWindows(t *testing.T) {
	from, to := fakeRange(6 * time.Hour)
	req := AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to}
	one, err := NewCore(newFakeSource(), Options{}, nil).Annotations(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	c := NewCore(src, Options{}, nil)
	c.scanWindow = 37
	many, err := c.Annotations(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if calls := src.calls["sim"]; calls < 20 {
		t.Errorf("%d get_data calls, want many small windows", calls)
	}
	if len(one.Events) == 0 || !reflect.DeepEqual(many.Events, one.Events) || len(many.Notices) != 0 {
		t.Errorf("windowed scan\n%+v %v\nwant\n%+v", many.Events, many.Notices, one.Events)
	}
}

// TestTransitionEvents checks titles, tags and regions: a warning or an
// alarm is a region until the next transition or the last reading, a
// return to ok a point; missing values are skipped.
func TestTransitionEvents(t *testing.T) {
	l := protocol.Limits{Alarm: &protocol.Range{High: protocol.Ptr(1500.0)}, Hysteresis: 20}
	info := protocol.FieldInfo{Type: protocol.TypeNumber, Units: protocol.Ptr("ppm"), Limits: &l}
	vals, _ := protocol.ValuesOf(1400.0, 1523.0, nil, 1490.0, 1470.0, 1600.0, 1610.0)
	s := protocol.Series{Times: []int64{1e9, 2e9, 3e9, 4e9, 5e9, 6e9, 7e9}, Values: vals}
	got := TransitionEvents(Target{"lab", "co2"}, info, s)
	want := []Event{
		{Target: Target{"lab", "co2"}, Time: 2e9, End: 5e9, Title: "co2 entered alarm (1523 ppm > 1500)",
			Text: "lab::co2: ok → alarm at 1523 ppm", Tags: []string{"lab", "co2", "alarm"}},
		{Target: Target{"lab", "co2"}, Time: 5e9, Title: "co2 left alarm (1470 ppm)",
			Text: "lab::co2: alarm → ok at 1470 ppm", Tags: []string{"lab", "co2", "ok"}},
		{Target: Target{"lab", "co2"}, Time: 6e9, End: 7e9, Title: "co2 entered alarm (1600 ppm > 1500)",
			Text: "lab::co2: ok → alarm at 1600 ppm; still alarm at the last reading", Tags: []string{"lab", "co2", "alarm"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n%+v\nwant\n%+v", got, want)
	}
}

// TestAnnotationsLongSparseRange asks for 50 years of which only the last
// hour holds readings: the scan widens its windows instead of walking the
// empty decades, and finds the same transitions as over that hour.
func TestAnnotationsLongSparseRange(t *testing.T) {
	from, to := fakeRange(time.Hour)
	hour, err := NewCore(newFakeSource(), Options{}, nil).Annotations(context.Background(), AnnotationRequest{Targets: []Target{tempTarget}, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	long, err := NewCore(src, Options{MaxRange: 60 * 366 * 24 * time.Hour}, nil).Annotations(context.Background(),
		AnnotationRequest{Targets: []Target{tempTarget}, From: to.AddDate(-50, 0, 0), To: to})
	if err != nil {
		t.Fatal(err)
	}
	if len(hour.Events) == 0 || !reflect.DeepEqual(long.Events, hour.Events) || len(long.Notices) != 0 {
		t.Errorf("50 years: %+v %v\nwant the hour's %+v", long.Events, long.Notices, hour.Events)
	}
	if calls := src.calls["sim"]; calls > 10 {
		t.Errorf("%d get_data calls for 50 mostly empty years", calls)
	}
}
