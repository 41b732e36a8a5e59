package datanodes

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/internal/version"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
)

// TestWithHub announces the node to the real hub, and again to a hub that
// restarts, and checks the hub lists it with its fields.
func TestWithHub(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
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
				// The release's one version, not a second variable.
				if m, _ := wamp.AsDict(d["meta"]); m["version"] != version.Version {
					t.Errorf("node announced version %v, want %s", m["version"], version.Version)
				}
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

// TestRouterRestartNoFlap restarts the router under a hub and a node: the
// node is listed again each time, and the hub publishes neither
// data_node_subtracted nor a second data_node_added for it.
func TestRouterRestartNoFlap(t *testing.T) {
	r := routertest.NewRestartable(t, routertest.Config(protocol.DefaultRealm))
	names := protocol.DefaultNames()
	var hubLog testutil.SyncBuffer
	h, err := hub.New(hub.Config{Names: names, Dial: dialer(t, r.URL()), Logger: slog.New(slog.NewTextHandler(&hubLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = h.Run(ctx) }()
	defer func() { cancel(); <-hubDone }()
	e := startNode(t, r.URL(), nil)
	listedOn := func() uint64 {
		c, err := dialer(t, r.URL())(context.Background())
		if err != nil {
			return 0
		}
		defer c.Close()
		res, err := c.Call(context.Background(), names.ListNodes(), nil, nil, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			return 0
		}
		l, _ := protocol.DecodeNodeInfos(res.Arguments[0])
		for _, n := range l {
			if n.Name == "n1" {
				return n.Session
			}
		}
		return 0
	}
	var before uint64
	testutil.Eventually(t, 10*time.Second, "n1 listed", func() bool { before = listedOn(); return before != 0 })
	const restarts = 3
	for i := range restarts {
		r.Stop()
		r.Start()
		testutil.Eventually(t, 20*time.Second, fmt.Sprintf("n1 listed on a new session after restart %d", i+1), func() bool {
			s := listedOn()
			if s != 0 && s != before {
				before = s
				return true
			}
			return false
		})
		testutil.Eventually(t, 10*time.Second, "the node registered", func() bool { return e.node.Health().Registered })
	}
	logs := hubLog.String()
	if n := strings.Count(logs, "data node removed"); n != 0 {
		t.Errorf("hub removed the node %d times over %d router restarts:\n%s", n, restarts, logs)
	}
	if n := strings.Count(logs, "data node added"); n != 1 {
		t.Errorf("hub published data_node_added %d times, want once:\n%s", n, logs)
	}
}
