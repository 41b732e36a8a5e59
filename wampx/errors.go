package wampx

import (
	"context"
	"errors"
	"fmt"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
)

// Fail turns an error into a callee's error result: the URI of its kind
// under the base URI of n, a human sentence as the first argument, and its
// details as keyword arguments. Errors without a kind become B.error.internal.
func Fail(n protocol.Names, err error) client.InvokeResult {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		if errors.Is(err, context.Canceled) {
			return client.InvokeResult{Err: wamp.ErrCanceled, Args: wamp.List{err.Error()}}
		}
		pe = &protocol.Error{Kind: protocol.Internal, Message: err.Error()}
	}
	var kw wamp.Dict
	if len(pe.Details) > 0 {
		kw = wamp.Dict{}
		for k, v := range pe.Details {
			kw[k] = v
		}
	}
	return client.InvokeResult{Err: wamp.URI(n.ErrorURI(pe.Kind)), Args: wamp.List{pe.Error()}, Kwargs: kw}
}

// FromCall converts an error returned by client.Call into a protocol error
// when its URI is one of the protocol's under n's base, keeping the
// router's message; other errors come back wrapped with the procedure.
func FromCall(n protocol.Names, err error) error {
	var rpc client.RPCError
	if !errors.As(err, &rpc) || rpc.Err == nil {
		return err
	}
	msg := string(rpc.Err.Error)
	if len(rpc.Err.Arguments) > 0 {
		if s, ok := rpc.Err.Arguments[0].(string); ok {
			msg = s
		}
	}
	if k, ok := KindFromURI(n, string(rpc.Err.Error)); ok {
		return &protocol.Error{Kind: k, Message: msg, Details: map[string]any(rpc.Err.ArgumentsKw), Err: err}
	}
	if rpc.Err.Error == wamp.ErrNotAuthorized || rpc.Err.Error == wamp.ErrAuthorizationFailed {
		return &protocol.Error{Kind: protocol.NotAuthorized, Message: fmt.Sprintf("%s: %s", rpc.Procedure, msg), Err: err}
	}
	if rpc.Err.Error == wamp.ErrNoSuchProcedure {
		return &protocol.Error{Kind: protocol.NoSuchNode, Message: fmt.Sprintf("no such procedure %s", rpc.Procedure), Err: err}
	}
	return fmt.Errorf("%s: %s: %s", rpc.Procedure, rpc.Err.Error, msg)
}

// KindFromURI is protocol.KindFromURI; it lives here too so callers of
// this package need not import both for the table lookup.
func KindFromURI(n protocol.Names, uri string) (protocol.Kind, bool) {
	return protocol.KindFromURI(n, uri)
}
