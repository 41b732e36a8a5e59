package hub

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// TestNameBoundToAuthID runs the hub under telemesh's router with its
// default roles: datanode node2 cannot announce itself as "salted", before
// or after salted does (it used to take the free name, and salted was then
// refused until node2 left), and salted repeating its announcement
// unchanged gets false, as from sisock's hub.
func TestNameBoundToAuthID(t *testing.T) {
	names := protocol.DefaultNames()
	srv := routertest.Start(t, names.Realm)
	h, err := New(Config{Names: names, Dial: srv.LocalDialer("hub", protocol.RoleHub)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, func(ctx context.Context) error { _ = h.Run(ctx); return nil }, nil)

	dial := func(authid string) *wampx.Session {
		c, err := srv.LocalDialer(authid, protocol.RoleDataNode)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s := wampx.NewSession(c, nil, wampx.SessionOptions{})
		t.Cleanup(s.Close)
		return s
	}
	add := func(s *wampx.Session, name string) (bool, error) {
		res, err := s.Call(context.Background(), names.DataNodeAdd(), nil, wamp.List{name, "desc of " + name, s.ID()}, nil, nil)
		if err != nil {
			return false, wampx.FromCall(names, err)
		}
		ok, _ := res.Arguments[0].(bool)
		return ok, nil
	}
	salted, node2 := dial("salted"), dial("node2")
	// node2 comes first and claims the free name salted: refused.
	testutil.Eventually(t, 10*time.Second, "the hub serving data_node.add", func() bool {
		_, err := add(node2, "salted")
		return !protocol.IsKind(err, protocol.NoSuchNode) && !protocol.IsKind(err, protocol.Unavailable)
	})
	if ok, err := add(node2, "salted"); ok || !protocol.IsKind(err, protocol.NotAuthorized) {
		t.Errorf("node2 announcing salted = %v, %v; want not_authorized", ok, err)
	}
	if ok, err := add(salted, "salted"); !ok || err != nil {
		t.Errorf("salted announcing itself = %v, %v; want true", ok, err)
	}
	if ok, err := add(node2, "salted"); ok || !protocol.IsKind(err, protocol.NotAuthorized) {
		t.Errorf("node2 announcing salted once taken = %v, %v; want not_authorized", ok, err)
	}
	if ok, err := add(salted, "salted"); ok || err != nil {
		t.Errorf("salted repeating its announcement = %v, %v; want false", ok, err)
	}
	if ok, err := add(node2, "node2"); !ok || err != nil {
		t.Errorf("node2 announcing node2 = %v, %v; want true", ok, err)
	}
	for _, n := range h.snapshot() {
		if want := map[string]uint64{"salted": uint64(salted.ID()), "node2": uint64(node2.ID())}[n.Name]; n.Session != want {
			t.Errorf("%s listed on session %d, want %d", n.Name, n.Session, want)
		}
	}
}
