package consumers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

var names = protocol.DefaultNames()

func dialer(t testing.TB, url string) wampx.Dialer {
	d, err := wampx.Config{URL: url, Realm: names.Realm}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dial(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := dialer(t, url)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runClient starts a consumers.Client and waits for its session.
func runClient(t *testing.T, url string) *consumers.Client {
	t.Helper()
	cl := consumers.New(dialer(t, url), names, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err := cl.Ready(rctx); err != nil {
		t.Fatal(err)
	}
	return cl
}

// fakeNode serves get_fields and get_data for node "fake": get_data
// answers in three progressive slices when the caller accepts them and
// records the arguments it got.
type fakeNode struct {
	mu   sync.Mutex
	args wamp.List
	kw   wamp.Dict
	c    *client.Client
}

func startFakeNode(t *testing.T, url string) *fakeNode {
	f := &fakeNode{c: dial(t, url)}
	fields := func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: wamp.List{wamp.List{
			wamp.Dict{"temp": wamp.Dict{"description": "T", "timeline": "t0", "type": "number", "units": "K"}},
			wamp.Dict{"t0": wamp.Dict{"interval": 1.0, "field": "temp"}}, // a lone string, as apex_weather sent
		}}}
	}
	slice := func(t0 float64) wamp.Dict {
		return wamp.Dict{
			"data":     wamp.Dict{"temp": wamp.List{t0, t0 + 1}},
			"timeline": wamp.Dict{"t0": wamp.Dict{"t": wamp.List{t0, t0 + 1}, "finalized_until": t0 + 1}},
		}
	}
	data := func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		f.mu.Lock()
		f.args, f.kw = inv.Arguments, inv.ArgumentsKw
		f.mu.Unlock()
		if prog, _ := inv.Details[wamp.OptReceiveProgress].(bool); prog {
			for _, t0 := range []float64{100, 102} {
				if err := f.c.SendProgress(ctx, wamp.List{slice(t0)}, nil); err != nil {
					return client.InvokeResult{Err: "wamp.error.canceled"}
				}
			}
			return client.InvokeResult{Args: wamp.List{slice(104)}}
		}
		return wampx.Fail(names, protocol.Errorf(protocol.TooMuchData, "too much data: ask progressively"))
	}
	if err := f.c.Register(names.GetFields("fake"), fields, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Register(names.GetData("fake"), data, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFieldsAndProgressiveGetData(t *testing.T) {
	url := routertest.Start(t, names.Realm).WebSocketURL()
	f := startFakeNode(t, url)
	cl := runClient(t, url)
	ctx := context.Background()

	fs, ts, err := cl.Fields(ctx, "fake", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fs["temp"].Timeline != "t0" || *fs["temp"].Units != "K" || len(ts["t0"].Fields) != 1 || *ts["t0"].Interval != 1 {
		t.Errorf("fields %+v timelines %+v", fs, ts)
	}

	r, err := cl.GetData(ctx, "fake", consumers.Query{Fields: []string{"temp"}, Start: 100, End: 106, MinStride: 2, MaxPoints: 10, Agg: "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{100, 101, 102, 103, 104, 105}
	tl := r.Timeline["t0"]
	if len(tl.T) != len(want) || r.Data["temp"].Len() != len(want) {
		t.Fatalf("merged result %+v", r)
	}
	for i, w := range want {
		if tl.T[i] != w || r.Data["temp"].Nums[i] != w {
			t.Errorf("point %d = (%v, %v), want %v", i, tl.T[i], r.Data["temp"].Nums[i], w)
		}
	}
	if tl.FinalizedUntil == nil || *tl.FinalizedUntil != 105 {
		t.Errorf("finalized_until = %v", tl.FinalizedUntil)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.args) != 3 || f.kw["min_stride"] != 2.0 || f.kw["agg"] != "minmax" {
		t.Errorf("node got args %v kwargs %v", f.args, f.kw)
	}
	if mp, _ := wamp.AsInt64(f.kw["max_points"]); mp != 10 {
		t.Errorf("max_points = %v", f.kw["max_points"])
	}
}

func TestErrors(t *testing.T) {
	url := routertest.Start(t, names.Realm).WebSocketURL()
	cl := runClient(t, url)
	ctx := context.Background()
	_, err := cl.GetData(ctx, "nobody", consumers.Query{Fields: []string{"x"}})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Kind != protocol.NoSuchNode {
		t.Fatalf("unknown node: err = %v", err)
	}
	if want := `no data node named "nobody"`; !strings.Contains(pe.Message, want) {
		t.Errorf("message %q lacks %q", pe.Message, want)
	}
	if _, err := cl.GetData(ctx, "a.b", consumers.Query{Fields: []string{"x"}}); !protocol.IsKind(err, protocol.InvalidArgument) {
		t.Errorf("bad node name: err = %v", err)
	}
	if _, err := cl.GetData(ctx, "ok", consumers.Query{Fields: []string{"x"}, Agg: "median"}); !protocol.IsKind(err, protocol.InvalidArgument) {
		t.Errorf("bad agg: err = %v", err)
	}
	if _, err := cl.Nodes(ctx); !protocol.IsKind(err, protocol.Unavailable) {
		t.Errorf("nodes without a hub: err = %v", err)
	}
	// A node-side protocol error keeps its kind.
	startFakeNode(t, url)
	s := dial(t, url)
	_, err = s.Call(ctx, names.GetData("fake"), nil, wamp.List{wamp.List{"temp"}, 1, 0}, nil, nil)
	if !protocol.IsKind(wampx.FromCall(names, err), protocol.TooMuchData) {
		t.Errorf("plain call: %v", err)
	}
}

func TestNodesAndWatch(t *testing.T) {
	url := routertest.Start(t, names.Realm).WebSocketURL()
	h, err := hub.New(hub.Config{Names: names, Dial: dialer(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)

	cl := runClient(t, url)
	events := make(chan string, 8)
	stop := cl.WatchNodes(func(added bool, n protocol.NodeSummary) {
		sign := "-"
		if added {
			sign = "+"
		}
		events <- sign + n.Name + ":" + n.Description
	})
	defer stop()

	node := dial(t, url)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := node.Call(ctx, names.DataNodeAdd(), nil, wamp.List{"n1", "first", 0}, nil, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the hub is still registering
	}
	expect(t, events, "+n1:first")
	nodes, err := cl.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "n1" || nodes[0].Session != uint64(node.ID()) {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	node.Close()
	expect(t, events, "-n1:first")
}

// TestSisockHubFallback lists nodes from a hub that has only sisock's
// get_data_node.
func TestSisockHubFallback(t *testing.T) {
	url := routertest.Start(t, names.Realm).WebSocketURL()
	old := dial(t, url)
	err := old.Register(names.GetDataNode(), func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: wamp.List{wamp.List{wamp.Dict{"name": "sensors", "description": "lm-sensors"}}}}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := runClient(t, url)
	nodes, err := cl.Nodes(context.Background())
	if err != nil || len(nodes) != 1 || nodes[0].Name != "sensors" || nodes[0].Description != "lm-sensors" {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
}

func expect(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
	}
}

func TestSubscribeSurvivesRouterRestart(t *testing.T) {
	rr := routertest.NewRestartable(t, routertest.Config(names.Realm))
	url := rr.URL()
	cl := runClient(t, url)

	got := make(chan float64, 16)
	stop, err := cl.Subscribe(context.Background(), "live", func(r *protocol.DataResult) {
		for _, v := range r.Data["temp"].Nums {
			got <- v
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	publish := func(v float64) {
		pub, err := dialer(t, url)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		batch := wamp.Dict{"data": wamp.Dict{"temp": wamp.List{v}}, "timeline": wamp.Dict{"t0": wamp.Dict{"t": wamp.List{v}, "finalized_until": nil}}}
		// Publish until the subscriber has it: after a restart the client
		// needs a moment to come back.
		deadline := time.Now().Add(20 * time.Second)
		for {
			if err := pub.Publish(names.Data("live"), wamp.Dict{"acknowledge": true}, wamp.List{batch}, nil); err != nil {
				t.Fatal(err)
			}
			select {
			case x := <-got:
				if x == v {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("reading %v never arrived", v)
			}
		}
	}
	publish(1)
	rr.Stop()
	rr.Start()
	publish(2)
	// Calls wait for the new session instead of failing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}
