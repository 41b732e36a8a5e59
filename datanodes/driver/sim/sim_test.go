package sim

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/driver/drivertest"
	"gopkg.in/yaml.v3"
)

func TestSampleDecodesStrictly(t *testing.T) {
	var blocks []map[string]any
	if err := yaml.Unmarshal([]byte(Sample), &blocks); err != nil {
		t.Fatal(err)
	}
	delete(blocks[0], "type")
	b, _ := yaml.Marshal(blocks[0])
	s := New()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	if s.backfill != 7*24*time.Hour || len(s.Fields) != 1 {
		t.Fatalf("backfill %s, %d fields", s.backfill, len(s.Fields))
	}
	if r, ok := driver.Lookup("sim"); !ok || r.Sample != Sample {
		t.Fatal("sim not registered with its sample")
	}
}

func TestInitRejects(t *testing.T) {
	for name, s := range map[string]*Sim{
		"zero interval": {Interval: 0},
		"bad backfill":  {Interval: time.Second, Backfill: "forever"},
		"bad field":     {Interval: time.Second, Fields: []Field{{Name: "a b"}}},
		"dup field":     {Interval: time.Second, Fields: []Field{{Name: "a"}, {Name: "a"}}},
		"spike prob":    {Interval: time.Second, Fields: []Field{{Name: "a", SpikeProb: 2}}},
	} {
		if err := s.Init(); err == nil {
			t.Errorf("%s: Init accepted %+v", name, s)
		}
	}
}

func TestBackfillAndLiveAreDeterministic(t *testing.T) {
	run := func() *drivertest.Recorder {
		s := New()
		s.Backfill = "1h"
		s.Interval = 10 * time.Millisecond
		s.BatchSize = 1000
		if err := s.Init(); err != nil {
			t.Fatal(err)
		}
		// Backfill of 1h at 10ms: 360,000 samples of 3 fields.
		rec := drivertest.NewRecorder()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx, rec) }()
		rec.Wait(t, 3*360000+30)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return rec
	}
	a, b := run(), run()
	if got := a.FieldNames(); len(got) != 3 || got[0] != "co2" {
		t.Fatalf("fields %v", got)
	}
	ra, rb := a.Of("temperature"), b.Of("temperature")
	// Compare the samples both runs have at the same time.
	byTime := map[int64]any{}
	for _, r := range rb {
		byTime[r.Time] = r.Value
	}
	same, spikes := 0, 0
	for i, r := range ra {
		if v, ok := byTime[r.Time]; ok {
			if v != r.Value {
				t.Fatalf("run differs at %d: %v vs %v", r.Time, r.Value, v)
			}
			same++
		}
		if i > 0 && r.Time <= ra[i-1].Time {
			t.Fatalf("readings out of order at %d", i)
		}
		if r.Value.(float64) > 26 {
			spikes++
		}
	}
	if same < 350000 {
		t.Fatalf("only %d common samples", same)
	}
	if spikes == 0 {
		t.Fatal("no spikes in 360,000 samples")
	}
}

// TestClockSteps: the driver schedules on monotonic timers and stamps by
// its clock, so a clock stepped back an hour does not stall it: it goes
// on emitting each interval, stamped an hour back; a clock stepped
// forward is caught up sample by sample.
func TestClockSteps(t *testing.T) {
	var offset atomic.Int64
	s := New()
	s.Interval = 10 * time.Millisecond
	s.Fields = []Field{{Name: "a", Base: 1}}
	s.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	rec := drivertest.NewRecorder()
	defer drivertest.Start(t, s, rec)()
	iv := int64(s.Interval)
	rec.Wait(t, 5)

	offset.Store(int64(-time.Hour))
	stepped := time.Now().Add(-time.Hour).UnixNano()
	n := rec.Len()
	rs := rec.WaitTimeout(t, n+5, 5*time.Second)
	for _, r := range rs[n+1:] {
		if r.Time > stepped+int64(time.Minute) || r.Time%iv != 0 {
			t.Fatalf("after stepping back an hour, reading at %d (clock %d)", r.Time, stepped)
		}
	}

	offset.Store(int64(time.Minute))
	ahead := time.Now().Add(time.Minute).UnixNano()
	n = rec.Len()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := rec.WaitFor(ctx, func(r *drivertest.Recorder) bool {
		rs = r.Readings()
		return rs[len(rs)-1].Time >= ahead-iv
	})
	if err != nil {
		t.Fatalf("no catch-up to the clock stepped forward: %v", err)
	}
	for i := n + 1; i < len(rs); i++ {
		if rs[i].Time-rs[i-1].Time != iv {
			t.Fatalf("catching up after a step forward: %d then %d", rs[i-1].Time, rs[i].Time)
		}
	}
}
