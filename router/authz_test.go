package router

import (
	"testing"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/protocol"
)

func TestAuthorizerDefaultRoles(t *testing.T) {
	n := protocol.Names{Realm: "r", Base: "B"}
	a := NewAuthorizer(DefaultRoles(n))
	tests := []struct {
		role, authid, action, uri string
		want                      bool
	}{
		{"hub", "hub", ActionRegister, "B.data_node.add", true},
		{"hub", "hub", ActionRegister, "B.data_node.subtract", true},
		{"hub", "hub", ActionRegister, "B.consumer.get_data_node", true},
		{"hub", "hub", ActionRegister, "B.consumer.list_nodes", true},
		{"hub", "hub", ActionRegister, "B.consumer.n1.get_data", false},
		{"hub", "hub", ActionPublish, "B.consumer.data_node_added", true},
		{"hub", "hub", ActionPublish, "B.hub.ready", true},
		{"hub", "hub", ActionCall, "wamp.session.list", true},
		{"hub", "hub", ActionSubscribe, "wamp.session.on_leave", true},
		{"hub", "hub", ActionRegister, "wamp.session.list", false},
		{"hub", "hub", ActionCall, "B.consumer.n1.get_data", false},
		{"datanode", "n1", ActionRegister, "B.consumer.n1.get_data", true},
		{"datanode", "n1", ActionPublish, "B.consumer.n1.data", true},
		{"datanode", "n1", ActionRegister, "B.consumer.n2.get_data", false},
		{"datanode", "n1", ActionRegister, "B.consumer.n1", false},
		{"datanode", "n1", ActionRegister, "B.consumer.get_data_node", false},
		{"datanode", "n1", ActionCall, "B.data_node.add", true},
		{"datanode", "n1", ActionCall, "B.data_node.subtract", true},
		{"datanode", "n1", ActionCall, "B.data_node.add.x", false},
		{"datanode", "n1", ActionSubscribe, "B.hub.ready", true},
		{"datanode", "n1", ActionCall, "B.consumer.n1.get_data", false},
		{"datanode", "a.b", ActionRegister, "B.consumer.a.b.x", false}, // authid is not one component
		{"datanode", "", ActionRegister, "B.consumer..x", false},
		{"consumer", "c", ActionCall, "B.consumer.n1.get_data", true},
		{"consumer", "c", ActionSubscribe, "B.consumer.n1.data", true},
		{"consumer", "c", ActionSubscribe, "B.consumer.data_node_added", true},
		{"consumer", "c", ActionRegister, "B.consumer.n1.get_data", false},
		{"consumer", "c", ActionPublish, "B.consumer.n1.data", false},
		{"consumer", "c", ActionCall, "B.data_node.add", false},
		{"consumer", "c", ActionCall, "wamp.session.list", false},
		{"admin", "a", ActionRegister, "anything.at.all", true},
		{"admin", "a", ActionPublish, "wamp.x", false}, // meta events are the router's
		{"admin", "a", ActionPublish, "wamp.session.on_leave", false},
		{"hub", "hub", ActionPublish, "wamp.session.on_leave", false},
		{"nosuchrole", "a", ActionCall, "B.consumer.x", false},
	}
	for _, tt := range tests {
		if got, _ := a.Allowed(tt.role, tt.authid, tt.action, tt.uri); got != tt.want {
			t.Errorf("%s(%s) %s %s = %v, want %v", tt.role, tt.authid, tt.action, tt.uri, got, tt.want)
		}
	}
}

// TestAuthorizerPrecedence checks crossbar's rule: exact beats prefix,
// a longer prefix beats a shorter one, prefix beats wildcard, and a more
// specific wildcard beats a less specific one.
func TestAuthorizerPrecedence(t *testing.T) {
	all := Allow{Call: true, Register: true, Publish: true, Subscribe: true}
	a := NewAuthorizer([]RoleConfig{{Name: "r", Permissions: []Permission{
		{URI: "a.", Match: MatchPrefix, Allow: all},
		{URI: "a.b.", Match: MatchPrefix, Allow: Allow{}},
		{URI: "a.b.c", Match: MatchExact, Allow: Allow{Call: true}},
		{URI: "x..z", Match: MatchWildcard, Allow: Allow{Call: true}},
		{URI: "x.y.", Match: MatchWildcard, Allow: Allow{}},
		{URI: "x.y.z", Match: MatchWildcard, Allow: Allow{Publish: true}},
		{URI: "x.", Match: MatchPrefix, Allow: Allow{Subscribe: true}},
		{URI: "w...", Match: MatchWildcard, Allow: Allow{Subscribe: true}},
	}}})
	tests := []struct {
		action, uri string
		want        bool
	}{
		{ActionCall, "a.x", true},
		{ActionCall, "a.b.x", false},    // longer prefix denies
		{ActionCall, "a.b.c", true},     // exact allows
		{ActionPublish, "a.b.c", false}, // exact decides, even to deny
		{ActionCall, "x.q.z", false},    // prefix x. beats wildcard x..z
		{ActionSubscribe, "x.q.z", true},
		{ActionSubscribe, "w.1.2.3", true},
		{ActionSubscribe, "w.1.2", false},
		{ActionCall, "b", false},
	}
	for _, tt := range tests {
		if got, p := a.Allowed("r", "", tt.action, tt.uri); got != tt.want {
			t.Errorf("%s %s = %v (by %v), want %v", tt.action, tt.uri, got, p, tt.want)
		}
	}
	w := NewAuthorizer([]RoleConfig{{Name: "r", Permissions: []Permission{
		{URI: "x..z", Match: MatchWildcard, Allow: Allow{Call: true}},
		{URI: "x.y.", Match: MatchWildcard, Allow: Allow{}},
		{URI: "x.y.z", Match: MatchWildcard, Allow: Allow{Publish: true}},
	}}})
	for _, tt := range []struct {
		action, uri string
		want        bool
	}{
		{ActionCall, "x.q.z", true},
		{ActionCall, "x.y.q", false},
		{ActionPublish, "x.y.z", true}, // all literal components win
		{ActionCall, "x.y.z", false},
	} {
		if got, p := w.Allowed("r", "", tt.action, tt.uri); got != tt.want {
			t.Errorf("wildcards: %s %s = %v (by %v), want %v", tt.action, tt.uri, got, p, tt.want)
		}
	}
}

// TestAuthorizeMessages checks message handling and forced disclosure.
func TestAuthorizeMessages(t *testing.T) {
	n := protocol.Names{Realm: "r", Base: "B"}
	a := NewAuthorizer(DefaultRoles(n))
	node := &wamp.Session{Details: wamp.Dict{"authrole": "datanode", "authid": "n1"}}
	call := &wamp.Call{Procedure: wamp.URI(n.DataNodeAdd())}
	if ok, err := a.Authorize(node, call); !ok || err != nil {
		t.Fatalf("datanode call data_node.add: %v %v", ok, err)
	}
	if call.Options[wamp.OptDiscloseMe] != true {
		t.Errorf("call to data_node.add not disclosed: %v", call.Options)
	}
	reg := &wamp.Register{Procedure: wamp.URI(n.GetData("n2"))}
	if ok, _ := a.Authorize(node, reg); ok {
		t.Error("datanode n1 may register n2's get_data")
	}
	if ok, _ := a.Authorize(node, &wamp.Yield{}); !ok {
		t.Error("YIELD refused")
	}
	trusted := &wamp.Session{Details: wamp.Dict{"authrole": trustedRole}}
	if ok, _ := a.Authorize(trusted, &wamp.Subscribe{Topic: "wamp.session.on_join"}); !ok {
		t.Error("router's own session refused")
	}
}
