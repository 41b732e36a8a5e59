package hub

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// env is telemesh's router on loopback with helpers to dial it.
type env struct {
	t     testing.TB
	url   string
	names protocol.Names
}

func newEnv(t testing.TB, n protocol.Names) *env {
	return &env{t: t, url: routertest.Start(t, n.Realm).WebSocketURL(), names: n}
}

func (e *env) dialer() wampx.Dialer {
	d, err := wampx.Config{URL: e.url, Realm: e.names.Realm, Serializer: "json"}.Dialer(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) dial() *client.Client {
	e.t.Helper()
	c, err := e.dialer()(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// goHub runs a hub until the test ends, without waiting for its
// registrations or, at the end, for it to stop: a hub cancelled while it
// reconciles can take seconds to return.
func (e *env) goHub() *Hub {
	e.t.Helper()
	h, err := New(Config{Names: e.names, Dial: e.dialer()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	go h.Run(ctx)
	return h
}

// startHub runs a hub until the returned stop function is called or the
// test ends, once it answers.
func (e *env) startHub() (stop func()) {
	e.t.Helper()
	return e.startHubWith(nil)
}

// startHubWith is startHub with a configuration that set (when not nil)
// changes.
func (e *env) startHubWith(set func(*Config)) (stop func()) {
	e.t.Helper()
	cfg := Config{Names: e.names, Dial: e.dialer()}
	if set != nil {
		set(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	// The hub is up once it has reconciled and published hub.ready; a test
	// going on before would race its reconciliation (and a late hub.ready
	// of this hub would look like the next one's).
	c := e.dial()
	defer c.Close()
	ready := make(chan struct{}, 1)
	if err := c.Subscribe(e.names.HubReady(), func(*wamp.Event) {
		select {
		case ready <- struct{}{}:
		default:
		}
	}, nil); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		e.t.Fatal("no hub.ready from the hub")
	}
	return stop
}

// node is a minimal data node: it serves get_data and get_fields and
// announces itself.
func (e *env) node(name string) *client.Client {
	e.t.Helper()
	c := e.dial()
	h := func(context.Context, *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: wamp.List{wamp.Dict{}}}
	}
	for _, p := range []string{e.names.GetData(name), e.names.GetFields(name)} {
		if err := c.Register(p, h, nil); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

func (e *env) add(c *client.Client, name, desc string, reported uint64, kw wamp.Dict) (bool, error) {
	res, err := c.Call(context.Background(), e.names.DataNodeAdd(), nil, wamp.List{name, desc, reported}, kw, nil)
	if err != nil {
		return false, wampx.FromCall(e.names, err)
	}
	ok, _ := res.Arguments[0].(bool)
	return ok, nil
}

func (e *env) list(c *client.Client) []protocol.NodeInfo {
	e.t.Helper()
	res, err := c.Call(context.Background(), e.names.ListNodes(), nil, nil, nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := protocol.DecodeNodeInfos(res.Arguments[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) find(c *client.Client, name string) (protocol.NodeInfo, bool) {
	for _, n := range e.list(c) {
		if n.Name == name {
			return n, true
		}
	}
	return protocol.NodeInfo{}, false
}

// watch collects data_node_added and data_node_subtracted events.
type watch struct {
	mu     sync.Mutex
	events []string // "+name" or "-name"
	descs  map[string]string
}

func (e *env) watch() *watch {
	w := &watch{descs: map[string]string{}}
	c := e.dial()
	for _, tp := range []struct {
		topic, sign string
	}{{e.names.DataNodeAdded(), "+"}, {e.names.DataNodeSubtracted(), "-"}} {
		sign := tp.sign
		err := c.Subscribe(tp.topic, func(ev *wamp.Event) {
			s, err := protocol.DecodeNodeSummary(ev.Arguments[0])
			if err != nil {
				e.t.Errorf("bad event payload %v: %v", ev.Arguments, err)
				return
			}
			w.mu.Lock()
			w.events = append(w.events, sign+s.Name)
			w.descs[s.Name] = s.Description
			w.mu.Unlock()
		}, nil)
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return w
}

func (w *watch) has(ev string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e == ev {
			return true
		}
	}
	return false
}

func TestAddListSubtract(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	e.startHub()
	w := e.watch()
	a := e.node("alpha")
	// The self-reported session id is wrong on purpose: the hub must bind
	// the node to the session the router discloses.
	ok, err := e.add(a, "alpha", "first node", 12345, wamp.Dict{
		"fields":    wamp.Dict{"temp": wamp.Dict{"description": "T", "timeline": "t0", "type": "number", "units": "K"}},
		"timelines": wamp.Dict{"t0": wamp.Dict{"interval": 1.0, "field": wamp.List{"temp"}}},
		"meta":      wamp.Dict{"version": "test"},
	})
	if err != nil || !ok {
		t.Fatalf("add = %v, %v; want true", ok, err)
	}
	testutil.Eventually(t, 10*time.Second, "data_node_added", func() bool { return w.has("+alpha") })

	c := e.dial()
	n, found := e.find(c, "alpha")
	if !found {
		t.Fatal("alpha not listed")
	}
	if n.Session != uint64(a.ID()) {
		t.Errorf("session = %d, want the disclosed %d", n.Session, a.ID())
	}
	if n.Description != "first node" || n.Joined <= 0 || n.LastSeen < n.Joined {
		t.Errorf("listed %+v", n)
	}
	if f := n.Fields["temp"]; f.Timeline != "t0" || f.Units == nil || *f.Units != "K" {
		t.Errorf("fields = %+v", n.Fields)
	}
	if tl := n.Timelines["t0"]; len(tl.Fields) != 1 || tl.Fields[0] != "temp" {
		t.Errorf("timelines = %+v", n.Timelines)
	}
	if n.Meta["version"] != "test" {
		t.Errorf("meta = %v", n.Meta)
	}

	res, err := c.Call(context.Background(), e.names.GetDataNode(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := protocol.DecodeNodeSummaries(res.Arguments[0])
	if err != nil || len(sums) != 1 || sums[0] != (protocol.NodeSummary{Name: "alpha", Description: "first node"}) {
		t.Errorf("get_data_node = %v, %v", sums, err)
	}

	// Same name from another live session: refused.
	b := e.dial()
	if ok, err := e.add(b, "alpha", "impostor", uint64(a.ID()), nil); err != nil || ok {
		t.Errorf("duplicate add = %v, %v; want false", ok, err)
	}
	// Same name from the same session: an update.
	if ok, err := e.add(a, "alpha", "renamed", 0, nil); err != nil || !ok {
		t.Errorf("re-add = %v, %v; want true", ok, err)
	}
	if n, _ := e.find(c, "alpha"); n.Description != "renamed" || n.Fields["temp"].Timeline != "t0" {
		t.Errorf("after update %+v", n)
	}

	// subtract needs the holder's session.
	if _, err := b.Call(context.Background(), e.names.DataNodeSubtract(), nil, wamp.List{"alpha", uint64(a.ID())}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.find(c, "alpha"); !ok {
		t.Error("subtract from another session removed the node")
	}
	if _, err := a.Call(context.Background(), e.names.DataNodeSubtract(), nil, wamp.List{"alpha", uint64(a.ID())}, nil, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "data_node_subtracted", func() bool { return w.has("-alpha") })
	if _, ok := e.find(c, "alpha"); ok {
		t.Error("alpha still listed after subtract")
	}
}

func TestLeaveRemovesNode(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	e.startHub()
	w := e.watch()
	a := e.node("beta")
	if ok, err := e.add(a, "beta", "", 0, nil); !ok || err != nil {
		t.Fatalf("add = %v, %v", ok, err)
	}
	start := time.Now()
	a.Close()
	testutil.Eventually(t, 10*time.Second, "data_node_subtracted after leave", func() bool { return w.has("-beta") })
	t.Logf("node removed %v after its session closed", time.Since(start))
	if _, ok := e.find(e.dial(), "beta"); ok {
		t.Error("beta still listed")
	}
	// The name is free again.
	b := e.node("beta")
	if ok, err := e.add(b, "beta", "again", 0, nil); !ok || err != nil {
		t.Errorf("add after leave = %v, %v", ok, err)
	}
}

func TestRestartReconciles(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	// The first hub must have reconciled (published hub.ready) before the
	// test goes on: a late hub.ready of it would look like the restarted
	// hub's. The watcher subscribes before it starts and stays open.
	first := make(chan struct{}, 1)
	if err := e.dial().Subscribe(e.names.HubReady(), func(*wamp.Event) {
		select {
		case first <- struct{}{}:
		default:
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	stop := e.startHub()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no hub.ready from the first hub")
	}

	// quiet never re-announces (like a sisock node); chatty re-announces on
	// hub.ready.
	quiet := e.node("quiet")
	if ok, _ := e.add(quiet, "quiet", "quiet node", 0, nil); !ok {
		t.Fatal("add quiet failed")
	}
	chatty := e.node("chatty")
	announce := func() {
		if ok, err := e.add(chatty, "chatty", "chatty node", 0, nil); !ok || err != nil {
			t.Errorf("add chatty = %v, %v", ok, err)
		}
	}
	announce()
	readies := make(chan struct{}, 4)
	if err := chatty.Subscribe(e.names.HubReady(), func(*wamp.Event) { readies <- struct{}{} }, nil); err != nil {
		t.Fatal(err)
	}
	gone := e.node("gone")
	if ok, _ := e.add(gone, "gone", "", 0, nil); !ok {
		t.Fatal("add gone failed")
	}

	stop()
	gone.Close() // leaves while no hub runs
	e.startHub()
	select {
	case <-readies:
		go announce() // not from the event handler: calls would deadlock it
	case <-time.After(10 * time.Second):
		t.Fatal("no hub.ready after restart")
	}

	c := e.dial()
	n, ok := e.find(c, "quiet")
	if !ok || n.Session != uint64(quiet.ID()) {
		t.Errorf("quiet after restart: %+v, %v; want session %d", n, ok, quiet.ID())
	}
	testutil.Eventually(t, 10*time.Second, "chatty to re-announce", func() bool {
		n, ok := e.find(c, "chatty")
		return ok && n.Description == "chatty node" && n.Session == uint64(chatty.ID())
	})
	if _, ok := e.find(c, "gone"); ok {
		t.Error("a node that left while the hub was down is listed")
	}
	// A node found through the router can still be refreshed by its owner.
	if ok, err := e.add(quiet, "quiet", "quiet node", 0, nil); !ok || err != nil {
		t.Errorf("re-add quiet = %v, %v", ok, err)
	}
}

func TestBadArguments(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	e.startHub()
	c := e.dial()
	tests := []struct {
		name string
		proc string
		args wamp.List
		kw   wamp.Dict
		want string
	}{
		{"no args", e.names.DataNodeAdd(), nil, nil, "wants"},
		{"name not a string", e.names.DataNodeAdd(), wamp.List{5, "d", 1}, nil, "name must be a string"},
		{"bad name", e.names.DataNodeAdd(), wamp.List{"a.b", "d", 1}, nil, "invalid node name"},
		{"description not a string", e.names.DataNodeAdd(), wamp.List{"ok", wamp.List{}, 1}, nil, "description must be a string"},
		{"fields not a map", e.names.DataNodeAdd(), wamp.List{"ok", "d", 1}, wamp.Dict{"fields": "x"}, "field map"},
		{"meta not a map", e.names.DataNodeAdd(), wamp.List{"ok", "d", 1}, wamp.Dict{"meta": 3}, "meta must be a map"},
		{"subtract without args", e.names.DataNodeSubtract(), nil, nil, "wants"},
		{"subtract bad name", e.names.DataNodeSubtract(), wamp.List{"x y", 1}, nil, "invalid node name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Call(context.Background(), tc.proc, nil, tc.args, tc.kw, nil)
			err = wampx.FromCall(e.names, err)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Kind != protocol.InvalidArgument {
				t.Fatalf("err = %v; want invalid_argument", err)
			}
			if !strings.Contains(pe.Message, tc.want) {
				t.Errorf("message %q does not mention %q", pe.Message, tc.want)
			}
		})
	}
	if l := e.list(c); len(l) != 0 {
		t.Errorf("bad calls registered nodes: %+v", l)
	}
}

// TestSisockNode checks that a data node written like sisock's
// DataNodeServer (autobahn-python, positional add with its own session id)
// is listed under the sisock names.
func TestSisockNode(t *testing.T) {
	e := newEnv(t, protocol.SisockNames())
	e.startHub()
	w := e.watch()

	p := testutil.SisockNode(t, e.url, e.names.Realm, e.names.Base, "sensors", "--description", "lm-sensors on a test box")
	testutil.Eventually(t, 10*time.Second, "data_node_added", func() bool { return w.has("+sensors") })

	c := e.dial()
	res, err := c.Call(context.Background(), e.names.GetDataNode(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sums, _ := protocol.DecodeNodeSummaries(res.Arguments[0])
	if len(sums) != 1 || sums[0].Name != "sensors" || sums[0].Description != "lm-sensors on a test box" {
		t.Errorf("get_data_node = %+v", sums)
	}
	// Its procedures are reachable under the sisock base URI.
	if _, err := c.Call(context.Background(), e.names.GetFields("sensors"), nil, wamp.List{1, 0}, nil, nil); err != nil {
		t.Errorf("get_fields: %v", err)
	}

	p.CloseStdin() // the node exits; the hub must notice
	testutil.Eventually(t, 10*time.Second, "data_node_subtracted", func() bool { return w.has("-sensors") })
}

// TestSisockDescriptionSurvivesRestart: a sisock node announces itself
// once; a hub with a state file that restarts lists it again with its
// description, and publishes its departure.
func TestSisockDescriptionSurvivesRestart(t *testing.T) {
	e := newEnv(t, protocol.SisockNames())
	state := filepath.Join(t.TempDir(), "hub-state.json")
	withState := func(c *Config) { c.StateFile = state }
	stop := e.startHubWith(withState)

	p := testutil.SisockNode(t, e.url, e.names.Realm, e.names.Base, "sensors", "--description", "lm-sensors on a test box")
	c := e.dial()
	if n, ok := e.find(c, "sensors"); !ok || n.Description != "lm-sensors on a test box" {
		t.Fatalf("before the restart: %+v, %v", n, ok)
	}
	readies := make(chan struct{}, 4)
	if err := c.Subscribe(e.names.HubReady(), func(*wamp.Event) { readies <- struct{}{} }, nil); err != nil {
		t.Fatal(err)
	}
	w := e.watch()

	stop()
	e.startHubWith(withState)
	select {
	case <-readies: // published once the hub has reconciled
	case <-time.After(10 * time.Second):
		t.Fatal("no hub.ready after restart")
	}
	n, ok := e.find(c, "sensors")
	if !ok || n.Description != "lm-sensors on a test box" || n.Meta["placeholder"] != nil {
		t.Errorf("after the restart: %+v, %v; want the description the node announced before", n, ok)
	}
	res, err := c.Call(context.Background(), e.names.GetDataNode(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sums, _ := protocol.DecodeNodeSummaries(res.Arguments[0]); len(sums) != 1 || sums[0].Description != "lm-sensors on a test box" {
		t.Errorf("get_data_node after the restart = %+v", sums)
	}
	if w.has("+sensors") || w.has("-sensors") {
		t.Errorf("the restart published %v", w.events)
	}

	p.CloseStdin()
	testutil.Eventually(t, 10*time.Second, "data_node_subtracted", func() bool { return w.has("-sensors") })
}

// TestStaleHolderReplaced: a name held by a session the router no longer
// knows (its leave event was lost) goes to the next session that claims it.
func TestStaleHolderReplaced(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	h := e.goHub()
	w := e.watch()
	c := e.dial()
	testutil.Eventually(t, 10*time.Second, "hub to register", func() bool {
		_, err := c.Call(context.Background(), e.names.DataNodeAdd(), nil, nil, nil, nil)
		return protocol.IsKind(wampx.FromCall(e.names, err), protocol.InvalidArgument)
	})
	h.mu.Lock()
	h.dir.Add(Announce{Name: "gamma", Description: "old", Session: 424242}, time.Now(), nil)
	h.mu.Unlock()
	if ok, err := e.add(c, "gamma", "new", 0, nil); !ok || err != nil {
		t.Fatalf("add over a stale holder = %v, %v; want true", ok, err)
	}
	// The name changes hands without a subtract: consumers hear only of
	// the new description.
	testutil.Eventually(t, 10*time.Second, "added with the new description", func() bool { return w.has("+gamma") })
	if w.has("-gamma") {
		t.Error("a stale holder replaced published data_node_subtracted")
	}
	if n, _ := e.find(c, "gamma"); n.Session != uint64(c.ID()) || n.Description != "new" {
		t.Errorf("listed %+v", n)
	}
	// The new holder's departure is published: the name is its now.
	c.Close()
	testutil.Eventually(t, 10*time.Second, "gamma's departure", func() bool { return w.has("-gamma") })
}
