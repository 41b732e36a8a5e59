package datanodes

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
)

// caller is the session data_node.add is called on.
type caller interface {
	Call(ctx context.Context, procedure string, options wamp.Dict, args wamp.List, kwargs wamp.Dict, progcb client.ProgressHandler) (*wamp.Result, error)
}

// sisockHub remembers, for one session, that its hub is a sisock hub and
// whether it accepted the node.
type sisockHub struct {
	mu       sync.Mutex
	sess     caller
	accepted bool
}

// callAdd calls data_node.add with the keyword arguments kw, or in
// sisock's call form (positional arguments only) once the hub of session c
// has refused them: sisock's hub is a Python callee whose signature takes
// no keywords and fails the call with Python's "unexpected keyword
// argument". The switch is logged once per session. A sisock hub answers
// false to a second add from the same session and learns nothing from it
// (it keeps no fields), so once it accepted the node the node does not
// announce again on that session.
func (n *Node) callAdd(ctx context.Context, c caller, args wamp.List, kw wamp.Dict) (*wamp.Result, error) {
	call := func(kw wamp.Dict) (*wamp.Result, error) {
		return c.Call(ctx, n.names.DataNodeAdd(), nil, args, kw, nil)
	}
	h := &n.sisock
	h.mu.Lock()
	sisock, accepted := h.sess == c, h.sess == c && h.accepted
	h.mu.Unlock()
	if accepted {
		return &wamp.Result{Arguments: wamp.List{true}}, nil
	}
	if !sisock {
		res, err := call(kw)
		if err == nil || !refusesKeywords(err) {
			return res, err
		}
		n.log.Info("the hub takes no keyword arguments (a sisock hub); announcing in sisock's form, without fields, timelines and meta", "err", err)
		h.mu.Lock()
		h.sess, h.accepted = c, false
		h.mu.Unlock()
	}
	res, err := call(nil)
	if err == nil && len(res.Arguments) > 0 && res.Arguments[0] == true {
		h.mu.Lock()
		if h.sess == c {
			h.accepted = true
		}
		h.mu.Unlock()
	}
	return res, err
}

// refusesKeywords reports whether a call failed because the callee does
// not accept its keyword arguments.
func refusesKeywords(err error) bool {
	var rpc client.RPCError
	if !errors.As(err, &rpc) || rpc.Err == nil {
		return false
	}
	for _, a := range rpc.Err.Arguments {
		if s, ok := a.(string); ok && strings.Contains(s, "unexpected keyword argument") {
			return true
		}
	}
	return false
}
