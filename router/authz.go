package router

import (
	"fmt"
	"strings"

	"github.com/gammazero/nexus/v3/wamp"
)

// Actions a permission can allow.
const (
	ActionCall      = "call"
	ActionRegister  = "register"
	ActionPublish   = "publish"
	ActionSubscribe = "subscribe"
)

// trustedRole is the role of the router's own in-process sessions (metrics);
// it is allowed everything and cannot be configured.
const trustedRole = "trusted"

// Authorizer applies crossbar-style static permissions: for a session's
// role it finds the permission that best matches a URI (an exact match
// beats the longest prefix match, which beats the most specific wildcard
// match) and allows the action only when that permission allows it.
// Everything else is denied. Authorizer implements nexus's
// router.Authorizer.
type Authorizer struct {
	roles map[string][]Permission
	// OnDecision, when set, is called after each decision on an action.
	OnDecision func(role, action string, allowed bool)
}

// NewAuthorizer returns an Authorizer for the roles of one realm.
func NewAuthorizer(roles []RoleConfig) *Authorizer {
	a := &Authorizer{roles: map[string][]Permission{}}
	for _, r := range roles {
		a.roles[r.Name] = append(a.roles[r.Name], r.Permissions...)
	}
	return a
}

// metaPrefix starts the URIs of the router's meta API: only the router's
// own sessions publish there (as in crossbar), so no permission, not even
// admin's, lets a client fake a meta event.
const metaPrefix = "wamp."

// Allowed reports whether a session with role and authid may perform action
// on uri, and returns the permission that decided it (nil when none
// matched).
func (a *Authorizer) Allowed(role, authid, action, uri string) (bool, *Permission) {
	if action == ActionPublish && strings.HasPrefix(uri, metaPrefix) {
		return false, nil
	}
	p := a.best(role, authid, uri)
	if p == nil {
		return false, nil
	}
	switch action {
	case ActionCall:
		return p.Allow.Call, p
	case ActionRegister:
		return p.Allow.Register, p
	case ActionPublish:
		return p.Allow.Publish, p
	case ActionSubscribe:
		return p.Allow.Subscribe, p
	}
	return false, p
}

// best returns the permission of role that best matches uri.
func (a *Authorizer) best(role, authid, uri string) *Permission {
	var best *Permission
	bestClass, bestScore := 0, -1
	perms := a.roles[role]
	for i := range perms {
		p := &perms[i]
		pat := p.URI
		if strings.Contains(pat, AuthIDPlaceholder) {
			// An authid that is not one URI component could widen the
			// pattern, so such sessions get no templated permissions.
			if authid == "" || !uriComponentRE.MatchString(authid) {
				continue
			}
			pat = strings.ReplaceAll(pat, AuthIDPlaceholder, authid)
		}
		class, score := 0, 0
		switch p.Match {
		case MatchExact:
			if uri == pat {
				class = 3
			}
		case MatchPrefix:
			if strings.HasPrefix(uri, pat) {
				class, score = 2, len(pat)
			}
		case MatchWildcard:
			if ok, n := wildcardMatch(pat, uri); ok {
				class, score = 1, n
			}
		}
		if class > bestClass || (class == bestClass && class > 0 && score > bestScore) {
			best, bestClass, bestScore = p, class, score
		}
	}
	return best
}

// wildcardMatch matches uri against a wildcard pattern (empty components
// match any one component) and returns how many components were literal.
func wildcardMatch(pat, uri string) (bool, int) {
	pp, up := strings.Split(pat, "."), strings.Split(uri, ".")
	if len(pp) != len(up) {
		return false, 0
	}
	n := 0
	for i := range pp {
		if pp[i] == "" {
			continue
		}
		if pp[i] != up[i] {
			return false, 0
		}
		n++
	}
	return true, n
}

// Authorize implements nexus's router.Authorizer. Disclosure set on the
// deciding permission is forced on the message: disclose.caller makes a
// CALL disclose its caller (and a REGISTER ask for callers),
// disclose.publisher makes a PUBLISH disclose its publisher.
func (a *Authorizer) Authorize(sess *wamp.Session, msg wamp.Message) (bool, error) {
	var action, uri string
	var opts *wamp.Dict
	switch m := msg.(type) {
	case *wamp.Call:
		action, uri, opts = ActionCall, string(m.Procedure), &m.Options
	case *wamp.Register:
		action, uri, opts = ActionRegister, string(m.Procedure), &m.Options
	case *wamp.Publish:
		action, uri, opts = ActionPublish, string(m.Topic), &m.Options
	case *wamp.Subscribe:
		action, uri, opts = ActionSubscribe, string(m.Topic), &m.Options
	default:
		return true, nil
	}
	role, _ := wamp.AsString(sess.Details["authrole"])
	authid, _ := wamp.AsString(sess.Details["authid"])
	if role == trustedRole {
		return true, nil
	}
	ok, p := a.Allowed(role, authid, action, uri)
	if ok && action == ActionCall && uri == string(wamp.MetaProcSessionAddTestament) {
		// A testament is a publication of its session, made later by the
		// router: authorize it now as one.
		m := msg.(*wamp.Call)
		topic := ""
		if len(m.Arguments) > 0 {
			topic, _ = wamp.AsString(m.Arguments[0])
		}
		action = ActionPublish
		ok, _ = a.Allowed(role, authid, ActionPublish, topic)
	}
	if a.OnDecision != nil {
		a.OnDecision(role, action, ok)
	}
	if !ok {
		return false, nil
	}
	disclose := (action == ActionCall || action == ActionRegister) && p.Disclose.Caller ||
		action == ActionPublish && p.Disclose.Publisher
	if disclose {
		if *opts == nil {
			*opts = wamp.Dict{}
		}
		key := wamp.OptDiscloseMe
		if action == ActionRegister {
			key = wamp.OptDiscloseCaller
		}
		(*opts)[key] = true
	}
	return true, nil
}

// String describes a permission for logs and test failures.
func (p Permission) String() string {
	return fmt.Sprintf("%s %q %+v", p.Match, p.URI, p.Allow)
}
