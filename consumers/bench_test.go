package consumers_test

import (
	"context"
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/router/routertest"
)

// BenchmarkGetDataDay reads one day of 1 Hz data (86,400 points) that a
// node streams as ten progressive slices, over loopback WebSocket with
// msgpack, and merges it into one result.
func BenchmarkGetDataDay(b *testing.B) {
	url := routertest.Start(b, names.Realm).WebSocketURL()
	node, err := dialer(b, url)(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	const slices, per = 10, 8640
	mk := func(k int) wamp.Dict {
		ts, vs := make(wamp.List, per), make(wamp.List, per)
		for i := range per {
			ts[i] = float64(k*per + i)
			vs[i] = float64(i) * 0.5
		}
		return wamp.Dict{"data": wamp.Dict{"temp": vs}, "timeline": wamp.Dict{"t0": wamp.Dict{"t": ts, "finalized_until": nil}}}
	}
	parts := make([]wamp.Dict, slices)
	for k := range parts {
		parts[k] = mk(k)
	}
	err = node.Register(names.GetData("day"), func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		for _, p := range parts[:slices-1] {
			if err := node.SendProgress(ctx, wamp.List{p}, nil); err != nil {
				return client.InvokeResult{Err: wamp.ErrCanceled}
			}
		}
		return client.InvokeResult{Args: wamp.List{parts[slices-1]}}
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cl := consumers.New(dialer(b, url), names, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Run(ctx)
	if err := cl.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := cl.GetData(ctx, "day", consumers.Query{Fields: []string{"temp"}, Start: 0, End: 86400})
		if err != nil {
			b.Fatal(err)
		}
		if r.Data["temp"].Len() != slices*per {
			b.Fatalf("got %d points", r.Data["temp"].Len())
		}
	}
}
