package datanodes

import (
	"context"
	"errors"
	"strings"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/wampx"
)

// callAdd calls data_node.add with the keyword arguments kw, or in
// sisock's call form (positional arguments only) once the hub of session c
// has refused them: sisock's hub is a Python callee whose signature takes
// no keywords and fails the call with Python's "unexpected keyword
// argument". The switch is logged once per session.
func (n *Node) callAdd(ctx context.Context, c *client.Client, args wamp.List, kw wamp.Dict) (*wamp.Result, error) {
	call := func(kw wamp.Dict) (res *wamp.Result, err error) {
		err = wampx.Guard(func() error {
			res, err = c.Call(ctx, n.names.DataNodeAdd(), nil, args, kw, nil)
			return err
		})
		return res, err
	}
	if n.sisockHub.Load() == c {
		return call(nil)
	}
	res, err := call(kw)
	if err == nil || !refusesKeywords(err) {
		return res, err
	}
	if n.sisockHub.Swap(c) != c {
		n.log.Info("the hub takes no keyword arguments (a sisock hub); announcing in sisock's form, without fields, timelines and meta", "err", err)
	}
	return call(nil)
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
