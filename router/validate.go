package router

import (
	"fmt"
	"slices"

	"github.com/gammazero/nexus/v3/wamp"
)

// clientMessages are the messages a client may send to a router; any
// other type from a client is a protocol violation.
var clientMessages = map[wamp.MessageType]bool{
	wamp.HELLO: true, wamp.AUTHENTICATE: true, wamp.GOODBYE: true, wamp.ABORT: true,
	wamp.ERROR: true, wamp.PUBLISH: true, wamp.SUBSCRIBE: true, wamp.UNSUBSCRIBE: true,
	wamp.CALL: true, wamp.CANCEL: true, wamp.REGISTER: true, wamp.UNREGISTER: true,
	wamp.YIELD: true,
}

// optionRule checks one option's value; it returns a description of the
// expected value, or "" when the value is valid.
type optionRule func(v any) string

func isBool(v any) string {
	if _, ok := v.(bool); !ok {
		return "a boolean"
	}
	return ""
}

func isNonNegInt(v any) string {
	if n, ok := wamp.AsInt64(v); !ok || n < 0 {
		return "a non-negative integer"
	}
	return ""
}

func oneOf(vals ...string) optionRule {
	return func(v any) string {
		if s, ok := v.(string); !ok || !slices.Contains(vals, s) {
			return fmt.Sprintf("one of %q", vals)
		}
		return ""
	}
}

// listOf checks a list whose every element passes ok.
func listOf(desc string, ok func(any) bool) optionRule {
	return func(v any) string {
		l, isList := wamp.AsList(v)
		if !isList || slices.ContainsFunc(l, func(e any) bool { return !ok(e) }) {
			return desc
		}
		return ""
	}
}

var (
	isIDList     = listOf("a list of session IDs", func(e any) bool { _, ok := wamp.AsID(e); return ok })
	isStringList = listOf("a list of strings", func(e any) bool { _, ok := e.(string); return ok })
)

var matchRule = oneOf(wamp.MatchExact, wamp.MatchPrefix, wamp.MatchWildcard)

// optionRules are the options of the WAMP basic and advanced profiles whose
// type the specification fixes, per request type. Unknown options are
// allowed, as the specification requires.
var optionRules = map[wamp.MessageType]map[string]optionRule{
	wamp.PUBLISH: {
		"acknowledge": isBool, "exclude_me": isBool, "disclose_me": isBool, "retain": isBool,
		"exclude": isIDList, "eligible": isIDList,
		"exclude_authid": isStringList, "eligible_authid": isStringList,
		"exclude_authrole": isStringList, "eligible_authrole": isStringList,
	},
	wamp.SUBSCRIBE: {"match": matchRule, "get_retained": isBool},
	wamp.REGISTER: {
		"match": matchRule, "disclose_caller": isBool, "force_reregister": isBool,
		"invoke": oneOf(wamp.InvokeSingle, wamp.InvokeRoundRobin, wamp.InvokeRandom, wamp.InvokeFirst, wamp.InvokeLast),
	},
	wamp.CALL: {"timeout": isNonNegInt, "receive_progress": isBool, "disclose_me": isBool, "progress": isBool},
	// CANCEL and YIELD have no reply to refuse them with: dropping them
	// would leave a call waiting, so nexus's reading of them stands.
}

// invalidOptions returns why a message's options are invalid, or "".
func invalidOptions(m wamp.Message) string {
	rules := optionRules[m.MessageType()]
	var opts wamp.Dict
	switch m := m.(type) {
	case *wamp.Publish:
		opts = m.Options
	case *wamp.Subscribe:
		opts = m.Options
	case *wamp.Register:
		opts = m.Options
	case *wamp.Call:
		opts = m.Options
	}
	for _, k := range sortedKeys(rules) {
		v, ok := opts[k]
		if !ok {
			continue
		}
		if want := rules[k](v); want != "" {
			return fmt.Sprintf("option %s must be %s, not %v", k, want, v)
		}
	}
	return ""
}

// isRequest reports whether typ is a request the router answers (or, for
// PUBLISH, may answer).
func isRequest(typ wamp.MessageType) bool {
	switch typ {
	case wamp.CALL, wamp.REGISTER, wamp.UNREGISTER, wamp.SUBSCRIBE, wamp.UNSUBSCRIBE, wamp.PUBLISH:
		return true
	}
	return false
}

// requestError answers a malformed request, or returns nil for message
// types that have no ERROR reply (a PUBLISH only gets one when it asked
// for an acknowledgement).
func requestError(typ wamp.MessageType, req wamp.ID, acknowledge bool, why string) *wamp.Error {
	if !isRequest(typ) || typ == wamp.PUBLISH && !acknowledge {
		return nil
	}
	return &wamp.Error{Type: typ, Request: req, Details: wamp.Dict{}, Error: wamp.ErrInvalidArgument, Arguments: wamp.List{why}}
}
