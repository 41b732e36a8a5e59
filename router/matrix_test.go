package router

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

const adminTicket = "admin-ticket-1"

// matrixConfig is testConfig plus an admin principal.
func matrixConfig(t testing.TB) Config {
	c := testConfig(t)
	c.Realms[0].Auth.Ticket.Principals["admin"] = TicketPrincipal{Ticket: adminTicket, Role: protocol.RoleAdmin}
	return c
}

// try performs action on uri and reports whether the router authorized
// it (any answer but wamp.error.not_authorized).
func try(t *testing.T, c *client.Client, action, uri string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	switch action {
	case ActionCall:
		_, err = c.Call(ctx, uri, nil, nil, nil, nil)
	case ActionRegister:
		if err = c.Register(uri, echo, nil); err == nil {
			c.Unregister(uri)
		}
	case ActionPublish:
		err = c.Publish(uri, wamp.Dict{wamp.OptAcknowledge: true}, nil, nil)
	case ActionSubscribe:
		if err = c.Subscribe(uri, func(*wamp.Event) {}, nil); err == nil {
			c.Unsubscribe(uri)
		}
	}
	return !isNotAuthorized(err)
}

// TestAuthorizationMatrix tries every action on every URI from a session
// of every role, over both transports and every authentication method,
// against an explicit list of what each role may do: everything else must
// be refused.
func TestAuthorizationMatrix(t *testing.T) {
	s := startServer(t, matrixConfig(t))
	n := testNames
	uris := []string{
		n.DataNodeAdd(), n.DataNodeSubtract(), n.GetDataNode(), n.ListNodes(), n.HubReady(),
		n.GetData("node1"), n.Data("node1"), n.GetData("node2"), n.Data("node3"), n.URI("consumer.data_node_added"),
		"wamp.session.list", "wamp.session.on_leave", n.URI("other.x"), "x.y",
	}
	all := func(actions ...string) []string { return actions }
	rp, cs := all(ActionRegister, ActionPublish), all(ActionCall, ActionSubscribe)
	hub := map[string][]string{
		n.DataNodeAdd(): {ActionRegister}, n.DataNodeSubtract(): {ActionRegister},
		n.GetDataNode(): {ActionRegister}, n.ListNodes(): {ActionRegister},
		n.HubReady(): {ActionPublish}, n.URI("consumer.data_node_added"): {ActionPublish},
		"wamp.session.list": cs, "wamp.session.on_leave": cs,
	}
	node := func(name string) map[string][]string {
		m := map[string][]string{
			n.DataNodeAdd(): {ActionCall}, n.DataNodeSubtract(): {ActionCall}, n.HubReady(): {ActionSubscribe},
		}
		for _, u := range []string{n.GetData(name), n.Data(name)} {
			if slices.Contains(uris, u) {
				m[u] = rp
			}
		}
		return m
	}
	consumer := map[string][]string{}
	for _, u := range uris {
		if strings.HasPrefix(u, n.ConsumerPrefix()) {
			consumer[u] = cs
		}
	}
	admin := map[string][]string{}
	for _, u := range uris {
		admin[u] = all(ActionCall, ActionRegister, ActionPublish, ActionSubscribe)
		if strings.HasPrefix(u, "wamp.") {
			admin[u] = all(ActionCall, ActionRegister, ActionSubscribe) // meta events are the router's
		}
	}
	ws, rs := s.WebSocketURL(), s.RawSocketURL()
	sessions := []struct {
		name  string
		cfg   wampx.Config
		allow map[string][]string
	}{
		{"hub/ticket/ws", wampx.Config{URL: ws, AuthID: "hub", AuthMethod: "ticket", Secret: hubTicket}, hub},
		{"node1/ticket/rs", wampx.Config{URL: rs, AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket}, node("node1")},
		{"node2/wampcra/ws", wampx.Config{URL: ws, AuthID: "node2", AuthMethod: "wampcra", Secret: craSecret}, node("node2")},
		{"salted/wampcra/rs", wampx.Config{URL: rs, AuthID: "salted", AuthMethod: "wampcra", Secret: craPassword}, node("salted")},
		{"node3/cryptosign/ws", wampx.Config{URL: ws, AuthID: "node3", AuthMethod: "cryptosign", Secret: seedHex}, node("node3")},
		{"anonymous/ws", wampx.Config{URL: ws}, consumer},
		{"anonymous/rs", wampx.Config{URL: rs, Serializer: "cbor"}, consumer},
		{"admin/ticket/rs", wampx.Config{URL: rs, AuthID: "admin", AuthMethod: "ticket", Secret: adminTicket}, admin},
	}
	tries, wrong := 0, 0
	for _, sess := range sessions {
		c := mustDial(t, sess.cfg)
		for _, u := range uris {
			for _, action := range []string{ActionCall, ActionRegister, ActionPublish, ActionSubscribe} {
				want := slices.Contains(sess.allow[u], action)
				tries++
				if got := try(t, c, action, u); got != want {
					wrong++
					t.Errorf("%s %s %s: allowed %v, want %v", sess.name, action, u, got, want)
				}
			}
		}
		c.Close()
	}
	t.Logf("%d tries, %d wrong", tries, wrong)
}

// TestTestaments checks that a testament is authorized as a publication
// of its session when it is added, and that no session but the router's
// publishes meta events.
func TestTestaments(t *testing.T) {
	s := startServer(t, matrixConfig(t))
	ws := s.WebSocketURL()
	hub := mustDial(t, wampx.Config{URL: ws, AuthID: "hub", AuthMethod: "ticket", Secret: hubTicket})
	admin := mustDial(t, wampx.Config{URL: ws, AuthID: "admin", AuthMethod: "ticket", Secret: adminTicket})
	add := func(c *client.Client, topic string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Call(ctx, string(wamp.MetaProcSessionAddTestament), nil, wamp.List{topic, wamp.List{1.0}, wamp.Dict{}}, nil, nil)
		return err
	}
	tests := []struct {
		name  string
		c     *client.Client
		topic string
		allow bool
	}{
		{"hub on a node's live topic", hub, testNames.Data("node1"), false},
		{"hub on wamp.session.on_leave", hub, string(wamp.MetaEventSessionOnLeave), false},
		{"hub on its own topic", hub, testNames.HubReady(), true},
		{"admin on wamp.session.on_leave", admin, string(wamp.MetaEventSessionOnLeave), false},
		{"admin on a node's live topic", admin, testNames.Data("node1"), true},
	}
	for _, tt := range tests {
		err := add(tt.c, tt.topic)
		if got := !isNotAuthorized(err); got != tt.allow {
			t.Errorf("testament of %s: allowed %v (%v), want %v", tt.name, got, err, tt.allow)
		}
	}
	if err := admin.Publish(string(wamp.MetaEventSessionOnLeave), wamp.Dict{wamp.OptAcknowledge: true}, wamp.List{1}, nil); !isNotAuthorized(err) {
		t.Errorf("admin publishing wamp.session.on_leave: %v, want not_authorized", err)
	}
	// The allowed testament fires when the hub leaves.
	node := mustDial(t, wampx.Config{URL: ws, AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	got := make(chan struct{}, 1)
	if err := node.Subscribe(testNames.HubReady(), func(*wamp.Event) { got <- struct{}{} }, nil); err != nil {
		t.Fatal(err)
	}
	hub.Close()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Error("the hub's authorized testament did not fire")
	}
}

// TestAnonymousAuthID checks that anonymous sessions cannot choose their
// authid, and that with the datanode role, whose permissions are
// templated by {authid}, they get only their own subtree, never a named
// node's procedures or live topic.
func TestAnonymousAuthID(t *testing.T) {
	cfg := testConfig(t)
	cfg.Realms[0].Auth.Anonymous.Role = protocol.RoleDataNode
	s := startServer(t, cfg)
	seen := make(chan string, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	callee, err := s.LocalDialer("hub", protocol.RoleHub)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	if err := callee.Register(testNames.DataNodeAdd(), func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		id, _ := wamp.AsString(inv.Details["caller_authid"])
		seen <- id
		return client.InvokeResult{}
	}, wamp.Dict{wamp.OptDiscloseCaller: true}); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"admin", "hub", "node1"} {
		p := rawWS(t, s, "wamp.2.json")
		p.send(fmt.Sprintf(`[1,"telemesh",{"roles":{"caller":{},"callee":{},"publisher":{}},"authid":%q}]`, claim))
		w := p.expect(wamp.WELCOME)
		d, _ := w[2].(map[string]any)
		want := anonymousAuthID(sessionID(w))
		if d["authid"] != want {
			t.Errorf("anonymous claiming %q got authid %v, want %s", claim, d["authid"], want)
		}
		p.send(fmt.Sprintf(`[48,1,{},%q]`, testNames.DataNodeAdd()))
		p.expect(wamp.RESULT)
		if got := <-seen; got != want {
			t.Errorf("callee saw caller_authid %q, want %q", got, want)
		}
		for i, m := range []string{
			fmt.Sprintf(`[64,%%d,{},%q]`, testNames.GetData(claim)),
			fmt.Sprintf(`[16,%%d,{"acknowledge":true},%q]`, testNames.Data(claim)),
		} {
			p.send(fmt.Sprintf(m, 10+i))
			if v := p.expect(wamp.ERROR); errorURI(v) != string(wamp.ErrNotAuthorized) {
				t.Errorf("anonymous as %q: %s got %v, want not_authorized", claim, m, v)
			}
		}
		p.send(fmt.Sprintf(`[64,20,{},%q]`, testNames.GetData(want)))
		p.expect(wamp.REGISTERED)
	}
}
