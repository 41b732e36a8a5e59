package hub

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// EventKind says what happened to a node in the directory.
type EventKind int

// The events the hub publishes.
const (
	// Added is data_node_added: a node appeared or changed its description.
	Added EventKind = iota + 1
	// Subtracted is data_node_subtracted: a node is gone.
	Subtracted
)

// An Event is a directory change for consumers to hear of.
type Event struct {
	Kind EventKind
	Node protocol.NodeInfo
}

// An Announce is a decoded data_node.add.
type Announce struct {
	Name, Description string
	// Session is the caller's session; AuthID and AuthRole are the
	// caller's as the router discloses them ("" when it does not).
	Session          uint64
	AuthID, AuthRole string
	// Fields, Timelines and Meta replace what the directory holds when
	// given (Has*); an absent keyword keeps the previous value.
	Fields                           map[string]protocol.FieldInfo
	Timelines                        map[string]protocol.TimelineInfo
	Meta                             map[string]any
	HasFields, HasTimelines, HasMeta bool
}

// NamePolicy says which node names a session may announce: the name equal
// to its authid, the names Names lists for its authid, and any name for
// the roles in AnyNameRoles. A caller whose authid the router does not
// disclose is not checked (there is nothing to bind to).
type NamePolicy struct {
	// AnyNameRoles may announce any name (e.g. admin, or hub for a relay).
	AnyNameRoles []string `yaml:"any_name_roles"`
	// Names maps an authid to further node names it may announce.
	Names map[string][]string `yaml:"names"`
}

// DefaultNamePolicy lets admin sessions, and the anonymous sessions of a
// plain router that authenticates nobody, announce any name; every other
// session announces only the node its authid names.
var DefaultNamePolicy = NamePolicy{AnyNameRoles: []string{protocol.RoleAdmin, "anonymous"}}

// Allows reports whether a session with authid and role may announce name.
func (p NamePolicy) Allows(authid, role, name string) bool {
	return authid == "" || authid == name || slices.Contains(p.AnyNameRoles, role) || slices.Contains(p.Names[authid], name)
}

// Directory is the hub's registry of data nodes and its rules, with no
// WAMP in it: every operation returns the events to publish, in order.
// It is not safe for concurrent use; the hub serializes calls.
type Directory struct {
	policy NamePolicy
	grace  time.Duration
	nodes  map[string]*entry
	// stored are the records Restore gave, applied by the next
	// reconciliation and then dropped.
	stored map[string]Record
	// changes counts the changes to what Records returns.
	changes uint64
}

// A Record is what the directory keeps of an announced node across a hub
// restart (Records, Restore): what the router's meta API cannot tell
// again, since a sisock node announces itself only once.
type Record struct {
	Description string                           `json:"description"`
	Session     uint64                           `json:"session"`
	AuthID      string                           `json:"authid,omitempty"`
	Joined      float64                          `json:"joined"`
	Fields      map[string]protocol.FieldInfo    `json:"fields"`
	Timelines   map[string]protocol.TimelineInfo `json:"timelines"`
	Meta        map[string]any                   `json:"meta"`
}

type entry struct {
	info protocol.NodeInfo
	// authid is the announcing session's, checked again when a new
	// session claims the name.
	authid string
	// announced is the session whose data_node.add the entry holds (0:
	// found through the router only, a placeholder).
	announced uint64
	// gone is when the entry's session was found gone by a
	// reconciliation; the entry is held for the grace period, so a node
	// that only reconnects (a router restart) never flaps.
	gone time.Time
}

// NewDirectory returns an empty directory: p binds names to authids, and
// nodes whose session a reconciliation finds gone are held for grace
// before they are removed (0: removed at once).
func NewDirectory(p NamePolicy, grace time.Duration) *Directory {
	return &Directory{policy: p, grace: max(grace, 0), nodes: map[string]*entry{}}
}

// Holder returns the session bound to name, if any.
func (d *Directory) Holder(name string) (uint64, bool) {
	e, ok := d.nodes[name]
	if !ok {
		return 0, false
	}
	return e.info.Session, true
}

// Add applies data_node.add at time now. It answers true when it binds the
// name to a.Session or changes what the directory lists, false when
// another session holds the name and gone does not report that session
// ended, and false for a repetition by the same session that changes
// nothing (as sisock's hub answered for a name that already exists). A
// name the policy does not allow the caller is an error. Taking over the
// entry of a gone session (the node reconnected) publishes nothing unless
// the description changed.
func (d *Directory) Add(a Announce, now time.Time, gone func(sid uint64) bool) (bool, []Event, error) {
	if !d.policy.Allows(a.AuthID, a.AuthRole, a.Name) {
		return false, nil, protocol.Errorf(protocol.NotAuthorized,
			"session %d (authid %q, role %q) may not announce node %q: a node's name must equal its authid unless the hub allows it",
			a.Session, a.AuthID, a.AuthRole, a.Name)
	}
	t := protocol.FromTime(now)
	var ev []Event
	if gone == nil {
		gone = func(uint64) bool { return false }
	}
	e, ok := d.nodes[a.Name]
	if ok && e.info.Session != a.Session {
		if e.gone.IsZero() && !gone(e.info.Session) {
			return false, nil, nil
		}
		if e.announced != 0 {
			// The holder is gone: the node is back on a new session (it
			// may announce before the hub has reconciled). Its entry is
			// kept, so consumers see no subtract and add.
			e.info.Session, e.gone = a.Session, time.Time{}
		} else {
			ev = append(ev, d.remove(a.Name)...)
			ok = false
		}
	}
	fresh := !ok
	if fresh {
		e = &entry{info: protocol.NodeInfo{Name: a.Name, Session: a.Session, Joined: t}}
		d.nodes[a.Name] = e
	}
	announcedBefore := e.announced == a.Session
	e.gone = time.Time{}
	before := e.info
	e.info.Description = a.Description
	e.info.LastSeen = t
	if a.HasFields || fresh || e.announced == 0 {
		e.info.Fields = orEmpty(a.Fields)
	}
	if a.HasTimelines || fresh || e.announced == 0 {
		e.info.Timelines = orEmpty(a.Timelines)
	}
	if a.HasMeta || fresh || e.announced == 0 {
		e.info.Meta = orEmpty(a.Meta)
	}
	placeholder := e.announced == 0
	e.announced, e.authid = a.Session, a.AuthID
	if fresh || placeholder || before.Description != a.Description {
		d.changes++
		ev = append(ev, Event{Added, e.info})
		return true, ev, nil
	}
	if announcedBefore && sameListing(before, e.info) {
		return false, ev, nil
	}
	d.changes++
	return true, ev, nil
}

func orEmpty[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// sameListing reports whether two listings differ only in LastSeen.
func sameListing(a, b protocol.NodeInfo) bool {
	a.LastSeen, b.LastSeen = 0, 0
	return reflect.DeepEqual(a, b)
}

// Subtract applies data_node.subtract: the node goes only when both its
// name and its session match. It reports whether it did.
func (d *Directory) Subtract(name string, sid uint64) (bool, []Event) {
	if e, ok := d.nodes[name]; ok && e.info.Session == sid {
		return true, d.remove(name)
	}
	return false, nil
}

// Leave removes at once every node of a session the router reports gone
// (wamp.session.on_leave): a live departure, unlike the losses a
// reconciliation finds, is not held.
func (d *Directory) Leave(sid uint64) []Event {
	var ev []Event
	for _, name := range d.names() {
		if d.nodes[name].info.Session == sid {
			ev = append(ev, d.remove(name)...)
		}
	}
	return ev
}

// Sessions returns each node's session, the snapshot a reconciliation
// starts from.
func (d *Directory) Sessions() map[string]uint64 {
	out := make(map[string]uint64, len(d.nodes))
	for name, e := range d.nodes {
		out[name] = e.info.Session
	}
	return out
}

// Reconcile makes the directory agree with the router after the hub's
// session (re)started. before is Sessions() taken before the router's
// session list live; serving maps each node name to the session that
// registered its get_data. A node whose session is gone is held for the
// grace period (the router may have restarted and the node be on its way
// back), and rebound without an event when serving shows it back on a new
// session; a node serving that the directory does not know becomes a
// placeholder until it announces itself, also without an event: its
// announcement publishes data_node_added once. A node serving on the very
// session a Restore record names is that node again: it is listed as the
// record says, as announced, without an event. Records for other sessions
// are stale and dropped.
func (d *Directory) Reconcile(before map[string]uint64, live map[uint64]bool, serving map[string]uint64, now time.Time) []Event {
	var ev []Event
	for _, name := range d.names() {
		e := d.nodes[name]
		if sid, ok := before[name]; ok && sid == e.info.Session && !live[sid] && e.gone.IsZero() {
			if d.grace == 0 {
				ev = append(ev, d.remove(name)...)
				continue
			}
			e.gone = now
		}
	}
	t := protocol.FromTime(now)
	names := make([]string, 0, len(serving))
	for name := range serving {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sid := serving[name]
		e, ok := d.nodes[name]
		switch {
		case ok && e.info.Session == sid:
		case ok && !e.gone.IsZero():
			e.info.Session, e.gone = sid, time.Time{} // back after a reconnect
		case ok && (live[e.info.Session] || before[name] != e.info.Session):
			// announced meanwhile
		case sid != 0 && d.stored[name].Session == sid:
			r := d.stored[name]
			if r.Joined == 0 {
				r.Joined = t
			}
			d.nodes[name] = &entry{info: protocol.NodeInfo{
				Name: name, Description: r.Description, Session: sid, Joined: r.Joined, LastSeen: t,
				Fields: orEmpty(r.Fields), Timelines: orEmpty(r.Timelines), Meta: orEmpty(r.Meta),
			}, authid: r.AuthID, announced: sid}
		default:
			d.nodes[name] = &entry{info: protocol.NodeInfo{
				Name: name, Session: sid, Joined: t, LastSeen: t,
				Fields: map[string]protocol.FieldInfo{}, Timelines: map[string]protocol.TimelineInfo{},
				Meta: map[string]any{"placeholder": true},
			}}
		}
	}
	d.stored = nil
	d.changes++
	return ev
}

// Records returns what the directory keeps of each announced node, and
// the Restore records not yet applied, for saving across a hub restart.
// The maps are shared with the directory, which only ever replaces them.
func (d *Directory) Records() map[string]Record {
	out := make(map[string]Record, len(d.nodes)+len(d.stored))
	for name, r := range d.stored {
		if _, ok := d.nodes[name]; !ok {
			out[name] = r
		}
	}
	for name, e := range d.nodes {
		if e.announced == 0 {
			continue // a placeholder knows nothing worth keeping
		}
		out[name] = Record{
			Description: e.info.Description, Session: e.info.Session, AuthID: e.authid,
			Joined: e.info.Joined, Fields: e.info.Fields, Timelines: e.info.Timelines, Meta: e.info.Meta,
		}
	}
	return out
}

// Restore gives the records a previous hub saved (Records); the next
// Reconcile applies those whose session still serves the node.
func (d *Directory) Restore(r map[string]Record) {
	d.stored = maps.Clone(r)
	d.changes++
}

// Changes counts the changes to what Records returns, so that a caller
// saves only when it moved.
func (d *Directory) Changes() uint64 { return d.changes }

// Expire removes the held nodes whose grace period has passed at now.
func (d *Directory) Expire(now time.Time) []Event {
	var ev []Event
	for _, name := range d.names() {
		if e := d.nodes[name]; !e.gone.IsZero() && now.Sub(e.gone) >= d.grace {
			ev = append(ev, d.remove(name)...)
		}
	}
	return ev
}

// List returns the nodes sorted by name.
func (d *Directory) List() []protocol.NodeInfo {
	out := make([]protocol.NodeInfo, 0, len(d.nodes))
	for _, name := range d.names() {
		out = append(out, d.nodes[name].info)
	}
	return out
}

// Len is the number of nodes listed.
func (d *Directory) Len() int { return len(d.nodes) }

// remove drops a node; only one that announced itself (and so was
// published as added) is published as subtracted.
func (d *Directory) remove(name string) []Event {
	e := d.nodes[name]
	delete(d.nodes, name)
	d.changes++
	if e.announced == 0 {
		return nil
	}
	return []Event{{Subtracted, e.info}}
}

func (d *Directory) names() []string {
	out := make([]string, 0, len(d.nodes))
	for name := range d.nodes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// String names an event kind.
func (k EventKind) String() string {
	switch k {
	case Added:
		return "added"
	case Subtracted:
		return "subtracted"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}
