// Package hub keeps the directory of the data nodes connected to a WAMP
// router: nodes announce themselves with data_node.add, consumers list them
// with get_data_node or list_nodes and follow data_node_added and
// data_node_subtracted.
//
// The hub trusts the router rather than the nodes: it binds each node to
// the caller session the router discloses, removes it when the router
// reports that session gone (wamp.session.on_leave), and after any (re)start
// rebuilds its directory from the router's session and registration meta
// API, so neither a hub restart nor a router restart loses a node.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Config configures a Hub.
type Config struct {
	// Names are the realm and base URI of the deployment.
	Names protocol.Names
	// Dial opens the hub's session; the hub redials after losing it.
	Dial wampx.Dialer
	// Logger receives the hub's logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports a configuration the hub cannot run with.
func (c Config) Validate() error {
	if c.Dial == nil {
		return errors.New("hub: no dialer")
	}
	if c.Names.Base == "" || c.Names.Realm == "" {
		return errors.New("hub: realm and base URI must be set")
	}
	return nil
}

// Hub is the data node directory. Its registry is guarded by one mutex,
// under which the hub also publishes, so that consumers see added and
// subtracted events in the order the registry changed.
type Hub struct {
	names protocol.Names
	dial  wampx.Dialer
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex
	sess  *client.Client
	out   chan publication // the session's outbox; nil without a session
	nodes map[string]*node
}

// publication is an event waiting in the hub's outbox.
type publication struct {
	topic   string
	payload wamp.Dict
}

// outboxSize bounds the events waiting to be published; beyond it the
// hub drops (and logs) rather than block the directory.
const outboxSize = 4096

type node struct {
	info protocol.NodeInfo
	// placeholder marks a node found through the router's meta API that
	// has not announced itself to this hub yet.
	placeholder bool
}

// New returns a hub; Run starts it.
func New(cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Hub{
		names: cfg.Names,
		dial:  cfg.Dial,
		log:   wampx.Logger(cfg.Logger),
		now:   time.Now,
		nodes: map[string]*node{},
	}, nil
}

// Run serves the hub until ctx ends, reconnecting whenever the session to
// the router is lost. It returns ctx's error.
func (h *Hub) Run(ctx context.Context) error {
	return wampx.KeepSession(ctx, h.dial, wampx.DefaultBackoff, h.log, h.setup)
}

// setup prepares one session: the outbox, leave detection and the
// procedures (register), then reconciliation and hub.ready.
func (h *Hub) setup(ctx context.Context, c *client.Client) (stop func(), err error) {
	// Events are published from the outbox's own goroutine: handlers run
	// on the client's receive loop, and a publication blocking there would
	// stall the session (and its Close) behind it. stop ends that goroutine
	// before the session closes.
	out := make(chan publication, outboxSize)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		h.publish(c, out, quit)
	}()
	stop = func() {
		h.mu.Lock()
		if h.sess == c {
			h.sess, h.out = nil, nil
		}
		h.mu.Unlock()
		close(quit)
		select {
		case <-done:
		case <-time.After(time.Second): // a send stuck on a dead connection
		}
	}
	if err := h.register(c); err != nil {
		return stop, err
	}
	h.mu.Lock()
	h.sess, h.out = c, out
	h.mu.Unlock()
	go func() {
		<-c.Done()
		h.mu.Lock()
		if h.sess == c {
			h.sess, h.out = nil, nil
		}
		h.mu.Unlock()
	}()

	if err := h.reconcile(ctx, c); err != nil {
		h.log.Warn("cannot reconcile with the router's meta API; waiting for nodes to re-announce", "err", err)
	}
	if err := c.Publish(h.names.HubReady(), nil, wamp.List{}, wamp.Dict{"session": uint64(c.ID())}); err != nil {
		return stop, fmt.Errorf("publishing %s: %w", h.names.HubReady(), err)
	}
	h.log.Info("hub ready", "realm", h.names.Realm, "base", h.names.Base, "nodes", h.count())
	return stop, nil
}

// register subscribes to leave events and registers the hub's procedures:
// leave detection first so that no departure goes unseen.
func (h *Hub) register(c *client.Client) error {
	if err := c.Subscribe(string(wamp.MetaEventSessionOnLeave), h.onLeave, nil); err != nil {
		// Without leave events (a router that forbids the meta API) the
		// directory still works; departed nodes linger until they re-add.
		h.log.Warn("cannot subscribe to session leave events; departed nodes will not be removed", "err", err)
	}
	procs := []struct {
		uri  string
		fn   client.InvocationHandler
		opts wamp.Dict
	}{
		// data_node.add comes last: once a node's add succeeds, every other
		// procedure of the hub is served.
		{h.names.GetDataNode(), h.getDataNode, nil},
		{h.names.ListNodes(), h.listNodes, nil},
		{h.names.DataNodeSubtract(), h.subtract, wamp.Dict{wamp.OptDiscloseCaller: true}},
		{h.names.DataNodeAdd(), h.add, wamp.Dict{wamp.OptDiscloseCaller: true}},
	}
	for _, p := range procs {
		err := c.Register(p.uri, p.fn, p.opts)
		if err != nil && p.opts != nil && !strings.Contains(err.Error(), string(wamp.ErrNotAuthorized)) {
			// Some routers refuse caller disclosure; then the hub falls
			// back to the session id the node reports itself.
			h.log.Warn("router refuses caller disclosure; trusting self-reported session ids", "procedure", p.uri, "err", err)
			err = c.Register(p.uri, p.fn, nil)
		}
		if err != nil {
			if strings.Contains(err.Error(), string(wamp.ErrNotAuthorized)) {
				return fmt.Errorf("registering %s: %w (the hub needs a role that may register it, such as hub: give --authid and a secret)", p.uri, err)
			}
			return fmt.Errorf("registering %s: %w", p.uri, err)
		}
	}
	return nil
}

func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.nodes)
}

// onLeave removes the nodes of a departed session. nexus sends
// [session, authid, authrole]; crossbar 19 sent the session alone.
func (h *Hub) onLeave(ev *wamp.Event) {
	if len(ev.Arguments) == 0 {
		return
	}
	sid, ok := wamp.AsID(ev.Arguments[0])
	if !ok {
		if d, dok := wamp.AsDict(ev.Arguments[0]); dok {
			sid, ok = wamp.AsID(d["session"])
		}
	}
	if !ok {
		h.log.Debug("ignoring malformed session leave event", "args", ev.Arguments)
		return
	}
	h.removeSession(uint64(sid), "session left")
}

func (h *Hub) removeSession(sid uint64, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, n := range h.nodes {
		if n.info.Session == sid {
			h.removeLocked(name, why)
		}
	}
}

// removeLocked drops a node and tells consumers; h.mu is held.
func (h *Hub) removeLocked(name, why string) {
	n, ok := h.nodes[name]
	if !ok {
		return
	}
	delete(h.nodes, name)
	h.log.Info("data node removed", "node", name, "session", n.info.Session, "reason", why)
	h.publishLocked(h.names.DataNodeSubtracted(), n.info)
}

// publishLocked queues an event about n for the current session, in
// order; without a session there is no one to tell.
func (h *Hub) publishLocked(topic string, n protocol.NodeInfo) {
	if h.out == nil {
		return
	}
	p := publication{topic: topic, payload: n.Summary().Wire()}
	select {
	case h.out <- p:
	default:
		h.log.Warn("outbox full; event dropped", "topic", topic, "node", n.Name)
	}
}

// publish sends the outbox's events on c until c ends or quit closes.
func (h *Hub) publish(c *client.Client, out <-chan publication, quit <-chan struct{}) {
	for {
		select {
		case <-c.Done():
			return
		case <-quit:
			return
		case p := <-out:
			if err := wampx.Guard(func() error { return c.Publish(p.topic, nil, wamp.List{p.payload}, nil) }); err != nil {
				h.log.Warn("cannot publish", "topic", p.topic, "err", err)
			}
		}
	}
}

// callerSession returns the session that made an invocation: the one the
// router discloses, else the id the caller reports in argument i.
func callerSession(inv *wamp.Invocation, i int) (uint64, error) {
	if id, ok := wamp.AsID(inv.Details["caller"]); ok {
		return uint64(id), nil
	}
	if len(inv.Arguments) > i {
		id, err := wampx.Int("session_id", inv.Arguments[i])
		if err == nil && id > 0 {
			return uint64(id), nil
		}
	}
	return 0, protocol.Errorf(protocol.InvalidArgument, "the router did not disclose the caller and no valid session_id argument was given")
}

// add implements data_node.add(name, description, session_id) with the
// optional keywords fields, timelines and meta.
func (h *Hub) add(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
	res, err := h.doAdd(ctx, inv)
	if err != nil {
		h.log.Warn("data_node.add refused", "err", err)
		return wampx.Fail(h.names, err)
	}
	return client.InvokeResult{Args: wamp.List{res}}
}

func (h *Hub) doAdd(ctx context.Context, inv *wamp.Invocation) (bool, error) {
	if len(inv.Arguments) < 2 {
		return false, protocol.Errorf(protocol.InvalidArgument, "data_node.add wants (name, description, session_id), got %d arguments", len(inv.Arguments))
	}
	name, err := wampx.String("name", inv.Arguments[0])
	if err != nil {
		return false, err
	}
	if err := protocol.CheckNodeName(name); err != nil {
		return false, err
	}
	var desc string
	if inv.Arguments[1] != nil {
		if desc, err = wampx.String("description", inv.Arguments[1]); err != nil {
			return false, err
		}
	}
	sid, err := callerSession(inv, 2)
	if err != nil {
		return false, err
	}
	fields, err := protocol.DecodeFieldMap(inv.ArgumentsKw["fields"])
	if err != nil {
		return false, err
	}
	timelines, err := protocol.DecodeTimelineMap(inv.ArgumentsKw["timelines"])
	if err != nil {
		return false, err
	}
	var meta map[string]any
	if m, ok := wamp.AsDict(inv.ArgumentsKw["meta"]); ok {
		meta = m
	} else if inv.ArgumentsKw["meta"] != nil {
		return false, protocol.Errorf(protocol.InvalidArgument, "meta must be a map, got %T", inv.ArgumentsKw["meta"])
	}

	// A name held by another session is refused only while that session
	// lives: after a router restart the old holder is gone for good.
	h.mu.Lock()
	held, ok := h.nodes[name]
	var holder uint64
	if ok && held.info.Session != sid {
		holder = held.info.Session
	}
	h.mu.Unlock()
	if holder != 0 && !h.sessionGone(ctx, holder) {
		h.log.Warn("data node name taken", "node", name, "session", sid, "holder", holder)
		return false, nil
	}

	now := protocol.FromTime(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.nodes[name]
	if ok && n.info.Session != sid && n.info.Session != holder {
		return false, nil // another session won the race
	}
	fresh := !ok || n.info.Session != sid
	if fresh {
		if ok {
			h.removeLocked(name, "its session is gone and a new one claims the name")
		}
		n = &node{info: protocol.NodeInfo{Name: name, Joined: now}}
		h.nodes[name] = n
	}
	changed := fresh || n.placeholder || n.info.Description != desc
	n.placeholder = false
	n.info.Description = desc
	n.info.Session = sid
	n.info.LastSeen = now
	if inv.ArgumentsKw["fields"] != nil || fresh {
		n.info.Fields = fields
	}
	if inv.ArgumentsKw["timelines"] != nil || fresh {
		n.info.Timelines = timelines
	}
	if meta != nil || fresh {
		n.info.Meta = meta
	}
	if changed {
		h.log.Info("data node added", "node", name, "session", sid, "description", desc)
		h.publishLocked(h.names.DataNodeAdded(), n.info)
	}
	return true, nil
}

// sessionGone asks the router whether a session has ended. When the
// router cannot say, the session counts as alive.
func (h *Hub) sessionGone(ctx context.Context, sid uint64) bool {
	h.mu.Lock()
	c := h.sess
	h.mu.Unlock()
	if c == nil {
		return false
	}
	_, err := c.Call(ctx, string(wamp.MetaProcSessionGet), nil, wamp.List{sid}, nil, nil)
	var rpc client.RPCError
	if errors.As(err, &rpc) && rpc.Err != nil && rpc.Err.Error == wamp.ErrNoSuchSession {
		return true
	}
	return false
}

// subtract implements data_node.subtract(name, session_id): the node is
// removed only when both match.
func (h *Hub) subtract(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
	if len(inv.Arguments) < 1 {
		return wampx.Fail(h.names, protocol.Errorf(protocol.InvalidArgument, "data_node.subtract wants (name, session_id)"))
	}
	name, err := wampx.String("name", inv.Arguments[0])
	if err != nil {
		return wampx.Fail(h.names, err)
	}
	if err := protocol.CheckNodeName(name); err != nil {
		return wampx.Fail(h.names, err)
	}
	sid, err := callerSession(inv, 1)
	if err != nil {
		return wampx.Fail(h.names, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n, ok := h.nodes[name]; ok && n.info.Session == sid {
		h.removeLocked(name, "subtracted")
	} else {
		h.log.Warn("data_node.subtract ignored: no such node for this session", "node", name, "session", sid)
	}
	return client.InvokeResult{Args: wamp.List{nil}}
}

// snapshot returns the registered nodes sorted by name.
func (h *Hub) snapshot() []protocol.NodeInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]protocol.NodeInfo, 0, len(h.nodes))
	for _, n := range h.nodes {
		out = append(out, n.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (h *Hub) getDataNode(context.Context, *wamp.Invocation) client.InvokeResult {
	list := wamp.List{}
	for _, n := range h.snapshot() {
		list = append(list, n.Summary().Wire())
	}
	return client.InvokeResult{Args: wamp.List{list}}
}

func (h *Hub) listNodes(context.Context, *wamp.Invocation) client.InvokeResult {
	list := wamp.List{}
	for _, n := range h.snapshot() {
		list = append(list, n.Wire())
	}
	return client.InvokeResult{Args: wamp.List{list}}
}

// reconcile makes the registry agree with the router: nodes whose session
// is gone are dropped, and every session serving B.consumer.N.get_data is
// recorded as node N (a placeholder until it announces itself).
func (h *Hub) reconcile(ctx context.Context, c *client.Client) error {
	// Entries made after the session list was taken may belong to newer
	// sessions; only those known before it are checked against it.
	h.mu.Lock()
	before := make(map[string]uint64, len(h.nodes))
	for name, n := range h.nodes {
		before[name] = n.info.Session
	}
	h.mu.Unlock()
	live, err := h.liveSessions(ctx, c)
	if err != nil {
		return err
	}
	h.mu.Lock()
	for name, n := range h.nodes {
		if sid, ok := before[name]; ok && sid == n.info.Session && !live[sid] {
			h.removeLocked(name, "session gone while the hub was away")
		}
	}
	h.mu.Unlock()

	found, err := h.servingNodes(ctx, c)
	if err != nil {
		return err
	}
	now := protocol.FromTime(h.now())
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, sid := range found {
		if n, ok := h.nodes[name]; ok && n.info.Session == sid {
			continue
		}
		if n, ok := h.nodes[name]; ok && (live[n.info.Session] || before[name] != n.info.Session) {
			continue // announced meanwhile
		}
		h.nodes[name] = &node{placeholder: true, info: protocol.NodeInfo{
			Name: name, Session: sid, Joined: now, LastSeen: now,
			Fields: map[string]protocol.FieldInfo{}, Timelines: map[string]protocol.TimelineInfo{},
			Meta: map[string]any{"placeholder": true},
		}}
		h.log.Info("data node found through the router", "node", name, "session", sid)
		h.publishLocked(h.names.DataNodeAdded(), h.nodes[name].info)
	}
	return nil
}

func (h *Hub) liveSessions(ctx context.Context, c *client.Client) (map[uint64]bool, error) {
	res, err := c.Call(ctx, string(wamp.MetaProcSessionList), nil, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	live := map[uint64]bool{}
	if len(res.Arguments) > 0 {
		l, _ := wamp.AsList(res.Arguments[0])
		for _, e := range l {
			if id, ok := wamp.AsID(e); ok {
				live[uint64(id)] = true
			}
		}
	}
	return live, nil
}

// servingNodes maps each node name to the session that registered its
// get_data procedure.
func (h *Hub) servingNodes(ctx context.Context, c *client.Client) (map[string]uint64, error) {
	res, err := c.Call(ctx, string(wamp.MetaProcRegList), nil, nil, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("listing registrations: %w", err)
	}
	var ids []wamp.ID
	if len(res.Arguments) > 0 {
		if d, ok := wamp.AsDict(res.Arguments[0]); ok {
			l, _ := wamp.AsList(d["exact"])
			for _, e := range l {
				if id, ok := wamp.AsID(e); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	prefix, suffix := h.names.ConsumerPrefix(), ".get_data"
	found := map[string]uint64{}
	for _, id := range ids {
		// A call on a cancelled context still waits for the router to
		// confirm the cancellation, so stop here rather than per call.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := c.Call(ctx, string(wamp.MetaProcRegGet), nil, wamp.List{id}, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			continue // unregistered meanwhile
		}
		d, _ := wamp.AsDict(res.Arguments[0])
		uri, _ := wamp.AsString(d["uri"])
		if !strings.HasPrefix(uri, prefix) || !strings.HasSuffix(uri, suffix) {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(uri, prefix), suffix)
		if !protocol.ValidNodeName(name) {
			continue
		}
		res, err = c.Call(ctx, string(wamp.MetaProcRegListCallees), nil, wamp.List{id}, nil, nil)
		if err != nil || len(res.Arguments) == 0 {
			continue
		}
		l, _ := wamp.AsList(res.Arguments[0])
		if len(l) == 0 {
			continue
		}
		if sid, ok := wamp.AsID(l[0]); ok {
			found[name] = uint64(sid)
		}
	}
	return found, nil
}
