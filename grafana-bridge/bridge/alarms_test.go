package bridge_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// TestAnnotationsMatchPublishedTransitions feeds a node live readings
// that swing through a field's warning and alarm ranges with jitter at
// every bound, and wants the transitions the node publishes on its alarm
// topic (over a real router) and the bridge's annotations, computed from
// the stored readings, to be the same: same times, same states.
func TestAnnotationsMatchPublishedTransitions(t *testing.T) {
	s := startStack(t, stackNode{Name: "room"})
	p := protocol.Ptr[float64]
	limits := protocol.Limits{Warning: &protocol.Range{Low: p(18), High: p(26)}, Alarm: &protocol.Range{Low: p(15), High: p(30)}, Hysteresis: 0.5}

	dial, err := wampx.Config{URL: s.URL, Realm: s.Names.Realm, Timeout: 5 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var published []protocol.LimitTransition
	if err := c.Subscribe(datanodes.AlarmTopic(s.Names, "room"), func(ev *wamp.Event) {
		tr, err := protocol.DecodeLimitTransition(ev.Arguments[0])
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		published = append(published, tr)
		mu.Unlock()
	}, nil); err != nil {
		t.Fatal(err)
	}

	sink := s.Sink("room")
	sink.Declare(driver.Field{Name: "temp", Units: "degC", Limits: &limits})
	start := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	var rs []protocol.Reading
	for i := range 600 {
		jitter := 0.4 * float64((i*37)%7-3) / 3 // within the hysteresis
		v := 22 + 10*math.Sin(float64(i)/30) + jitter
		rs = append(rs, protocol.Reading{Field: "temp", Time: start.Add(time.Duration(i) * 40 * time.Millisecond).UnixNano(), Value: v})
	}
	sink.Emit(rs...)

	// How many transitions to wait for, from a tracker of the test's own.
	tr := protocol.NewLimitTracker(map[string]protocol.Limits{"temp": limits})
	want := 0
	for _, r := range rs {
		if _, ok := tr.Observe("temp", r.Time, r.Value.(float64)); ok {
			want++
		}
	}
	t.Logf("%d transitions", want)
	if want < 10 {
		t.Fatalf("the readings make only %d transitions", want)
	}
	testutil.Eventually(t, 10*time.Second, "the published transitions", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(published) >= want
	})

	core := bridge.NewCore(s.Client, bridge.Options{}, nil)
	req := bridge.AnnotationRequest{Targets: []bridge.Target{{Node: "room", Field: "temp"}}, From: start.Add(-time.Second), To: time.Now().Add(time.Second)}
	var a bridge.Annotations
	testutil.Eventually(t, 10*time.Second, "the stored readings' annotations", func() bool {
		a, err = core.Annotations(context.Background(), req)
		return err == nil && len(a.Events) >= want
	})
	mu.Lock()
	defer mu.Unlock()
	if len(published) != want || len(a.Events) != want || len(a.Notices) != 0 {
		t.Fatalf("%d published, %d annotations (notices %v), want %d of each", len(published), len(a.Events), a.Notices, want)
	}
	for i, e := range a.Events {
		pub := published[i]
		if e.Time != protocol.ClampNanos(pub.T) || e.Tags[2] != pub.State || e.Tags[1] != pub.Field {
			t.Errorf("transition %d: published %s → %s at %v, annotation %q at %v tags %v",
				i, pub.Previous, pub.State, protocol.ToTime(pub.T), e.Title, time.Unix(0, e.Time).UTC(), e.Tags)
		}
	}
}
