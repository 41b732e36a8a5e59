package datanodes

import (
	"context"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestWithHub announces the node to the real hub, and again to a hub that
// restarts, and checks the hub lists it with its fields.
func TestWithHub(t *testing.T) {
	_, url := testutil.NexusRouter(t, protocol.DefaultRealm)
	names := protocol.DefaultNames()
	startHub := func() func() {
		h, err := hub.New(hub.Config{Names: names, Dial: dialer(t, url)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = h.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stop := startHub()
	e := startNode(t, url, nil)
	e.node.Sink().Declare(driver.Field{Name: "x", Units: "V"})
	listed := func() bool {
		res, err := e.call.Call(context.Background(), names.ListNodes(), nil, nil, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			return false
		}
		l, _ := wamp.AsList(res.Arguments[0])
		for _, v := range l {
			d, _ := wamp.AsDict(v)
			f, _ := wamp.AsDict(d["fields"])
			if d["name"] == "n1" && f["x"] != nil {
				return true
			}
		}
		return false
	}
	// A new field is announced at once; a restarted hub learns it again.
	waitFor(t, "node listed with its new field", listed)
	stop()
	stop = startHub()
	defer stop()
	waitFor(t, "node listed with its fields by the restarted hub", listed)
}
