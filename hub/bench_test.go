package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// BenchmarkListNodes measures a list_nodes round trip over loopback
// WebSocket (JSON) with 100 nodes of 10 fields each.
func BenchmarkListNodes(b *testing.B) {
	e := newEnv(b, protocol.DefaultNames())
	h := e.goHub()
	h.mu.Lock()
	for i := range 100 {
		fs := map[string]protocol.FieldInfo{}
		for j := range 10 {
			fs[fmt.Sprintf("field%d", j)] = protocol.FieldInfo{Timeline: "t", Type: protocol.TypeNumber, Units: protocol.Ptr("K")}
		}
		name := fmt.Sprintf("node%03d", i)
		h.dir.Add(Announce{Name: name, Session: uint64(i + 1), Fields: fs, HasFields: true}, time.Now(), nil)
	}
	h.mu.Unlock()
	c := e.dial()
	call := func() error {
		_, err := c.Call(context.Background(), e.names.ListNodes(), nil, nil, nil, nil)
		return err
	}
	for call() != nil {
		// the hub is still registering
	}
	b.ResetTimer()
	for b.Loop() {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReannounce measures data_node.add from the session that holds
// the name (the re-announce after hub.ready), over loopback WebSocket.
func BenchmarkReannounce(b *testing.B) {
	e := newEnv(b, protocol.DefaultNames())
	e.goHub()
	c := e.dial()
	add := func() error {
		_, err := c.Call(context.Background(), e.names.DataNodeAdd(), nil, wamp.List{"bench", "d", 0}, nil, nil)
		return err
	}
	for add() != nil {
		// the hub is still registering
	}
	b.ResetTimer()
	for b.Loop() {
		if err := add(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServingNodes measures the hub's reading of which session
// serves which of 200 nodes from the router's registration meta API, the
// slow part of its reconciliation after a router restart, over loopback
// WebSocket (JSON).
func BenchmarkServingNodes(b *testing.B) {
	e := newEnv(b, protocol.DefaultNames())
	for i := range 200 {
		e.node(fmt.Sprintf("node%03d", i))
	}
	h, err := New(Config{Names: e.names, Dial: e.dialer()})
	if err != nil {
		b.Fatal(err)
	}
	s := wampx.NewSession(e.dial(), nil, wampx.SessionOptions{})
	defer s.Close()
	for b.Loop() {
		m, err := h.servingNodes(context.Background(), s)
		if err != nil || len(m) != 200 {
			b.Fatalf("%d nodes, %v", len(m), err)
		}
	}
}
