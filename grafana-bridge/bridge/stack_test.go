package bridge_test

// The live in-process telemesh stack of the bridge's tests and benchmarks:
// a nexus router on loopback, a hub, data nodes on real stores and a
// consumers client. It lives in test files because the bridge itself must
// reach nodes only through the wire protocol.

import (
	"context"
	"testing"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// stackNode describes a data node to start. Store nil means a fresh memstore.
type stackNode struct {
	Name  string
	Store store.Store
}

// stack is a running router, hub, data nodes and client.
type stack struct {
	URL    string
	Names  protocol.Names
	Client *consumers.Client
	// Dial is the client's dialer.
	Dial wampx.Dialer

	nodes  map[string]*datanodes.Node
	stores map[string]store.Store
}

// startStack starts the stack; it stops when the test ends.
func startStack(t testing.TB, nodes ...stackNode) *stack {
	t.Helper()
	names := protocol.DefaultNames()
	url := routertest.Start(t, names.Realm).WebSocketURL()
	// One dialer per session: nexus writes into the client config's
	// HelloDetails while joining, so sessions must not share one.
	newDial := func() wampx.Dialer {
		d, err := wampx.Config{URL: url, Realm: names.Realm, Timeout: 5 * time.Second}.Dialer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dial := newDial()
	s := &stack{URL: url, Names: names, Dial: dial, nodes: map[string]*datanodes.Node{}, stores: map[string]store.Store{}}
	// The hub stops last, so that it is still there when nodes leave.
	hubCtx, hubCancel := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(hubCtx)
	type proc struct {
		ctx  context.Context
		done chan error
	}
	var procs []proc
	run := func(c context.Context, f func(context.Context) error) {
		p := proc{c, make(chan error, 1)}
		procs = append(procs, p)
		go func() { p.done <- f(c) }()
	}
	t.Cleanup(func() {
		cancel()
		for i := len(procs) - 1; i >= 0; i-- {
			if i == 0 {
				hubCancel()
			}
			if err := <-procs[i].done; err != nil && procs[i].ctx.Err() == nil {
				t.Errorf("stack: %v", err)
			}
		}
	})
	h, err := hub.New(hub.Config{Names: names, Dial: newDial()})
	if err != nil {
		t.Fatal(err)
	}
	run(hubCtx, h.Run)
	for _, n := range nodes {
		st := n.Store
		if st == nil {
			st = memstore.New()
		}
		node, err := datanodes.New(datanodes.Config{Name: n.Name, Description: "test node " + n.Name,
			Live: datanodes.LiveConfig{Interval: datanodes.Duration(20 * time.Millisecond)}}, newDial(), st, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.nodes[n.Name], s.stores[n.Name] = node, st
		run(ctx, node.Run)
	}
	s.Client = consumers.New(dial, names, nil)
	run(ctx, s.Client.Run)
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err := s.Client.Ready(rctx); err != nil {
		t.Fatal(err)
	}
	s.WaitNodes(t, len(nodes))
	return s
}

// WaitNodes waits until the hub lists n nodes.
func (s *stack) WaitNodes(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, err := s.Client.Nodes(context.Background())
		if err == nil && len(ns) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub lists %d nodes (%v), want %d", len(ns), err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sink returns the sink of node: declared fields and emitted readings are
// stored and published live.
func (s *stack) Sink(node string) driver.Sink { return s.nodes[node].Sink() }

// Store returns the store of node, to load history in bulk.
func (s *stack) Store(node string) store.Store { return s.stores[node] }

// Load declares fields on node and appends readings straight to its store.
func (s *stack) Load(t testing.TB, node string, fields []driver.Field, readings []protocol.Reading) {
	t.Helper()
	s.Sink(node).Declare(fields...)
	ctx := context.Background()
	cols, err := protocol.Columns(readings)
	if err == nil {
		err = s.stores[node].Append(ctx, cols)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.stores[node].Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
