package hub

import (
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

// TestDecodeAnnounce decodes data_node.add as the router delivers it: the
// caller's session, authid and authrole come from the disclosure, not
// from the arguments.
func TestDecodeAnnounce(t *testing.T) {
	inv := &wamp.Invocation{
		Details:     wamp.Dict{"caller": wamp.ID(42), "caller_authid": "node2", "caller_authrole": "datanode"},
		Arguments:   wamp.List{"salted", "fake", 7},
		ArgumentsKw: wamp.Dict{"meta": wamp.Dict{"version": "x"}},
	}
	a, err := decodeAnnounce(inv)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "salted" || a.Session != 42 || a.AuthID != "node2" || a.AuthRole != "datanode" || !a.HasMeta || a.HasFields {
		t.Errorf("decoded %+v", a)
	}
	if DefaultNamePolicy.Allows(a.AuthID, a.AuthRole, a.Name) {
		t.Error("the default policy lets node2 announce salted")
	}
}
