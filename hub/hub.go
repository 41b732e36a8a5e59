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
	// Policy binds node names to the authids that may announce them; nil
	// is DefaultNamePolicy.
	Policy *NamePolicy
	// Grace is how long a node whose session a reconciliation finds gone
	// (after the hub's own session was lost, as in a router restart) stays
	// listed, so a node that only reconnects does not flap; 0 is
	// DefaultGrace, negative removes such nodes at once.
	Grace time.Duration
	// StateFile, when set, is where the hub keeps what nodes announced
	// (descriptions, fields, timelines, meta) across its own restarts:
	// the router's meta API tells it which sessions serve which nodes,
	// not what a sisock node, which never announces again, said. An
	// unreadable file is logged and ignored.
	StateFile string
}

// DefaultGrace is the hold of nodes found gone by a reconciliation: longer
// than a router restart takes nodes to reconnect (3-4 s measured).
const DefaultGrace = 15 * time.Second

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

// Hub serves the data node Directory over WAMP: it decodes invocations,
// applies them to the directory under one mutex and publishes the events
// the directory returns, in order. Publishing only queues on the session,
// so the mutex is never held across a send that can block.
type Hub struct {
	names protocol.Names
	dial  wampx.Dialer
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration

	// state saves the directory's records (nil: no state file); written
	// is what the file held at the start.
	state   *stateSaver
	written []byte

	mu    sync.Mutex
	sess  *wampx.Session // nil without a session
	dir   *Directory
	saved uint64 // the directory's Changes last offered to state
}

// New returns a hub; Run starts it.
func New(cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := DefaultNamePolicy
	if cfg.Policy != nil {
		p = *cfg.Policy
	}
	grace := cfg.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	h := &Hub{
		names: cfg.Names,
		dial:  cfg.Dial,
		log:   wampx.Logger(cfg.Logger),
		now:   time.Now,
		grace: max(grace, 0),
		dir:   NewDirectory(p, max(grace, 0)),
	}
	if cfg.StateFile != "" {
		h.state = newStateSaver(cfg.StateFile, h.log)
		r, err := loadState(cfg.StateFile)
		if err != nil {
			h.log.Warn("ignoring the hub state file; nodes that do not announce again will be listed without descriptions", "path", cfg.StateFile, "err", err)
		} else if r != nil {
			h.dir.Restore(r)
			h.written, _ = encodeState(r)
		}
	}
	return h, nil
}

// Run serves the hub until ctx ends, reconnecting whenever the session to
// the router is lost. It returns ctx's error.
func (h *Hub) Run(ctx context.Context) error {
	if h.state != nil {
		// The saver outlives the sessions so that it writes the last
		// change before Run returns.
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { h.state.run(sctx, h.written); close(done) }()
		defer func() { stop(); <-done }()
	}
	return wampx.Keep(ctx, h.dial, wampx.DefaultBackoff, h.log, wampx.SessionOptions{QueueSize: outboxSize}, h.setup)
}

// outboxSize bounds the events waiting to be published; beyond it the
// hub drops (and logs) rather than block the directory.
const outboxSize = 4096

// setup prepares one session: leave detection and the procedures
// (register), the expiry of held nodes, then reconciliation and hub.ready.
func (h *Hub) setup(ctx context.Context, s *wampx.Session) error {
	if err := h.register(s); err != nil {
		return err
	}
	h.mu.Lock()
	h.sess = s
	h.mu.Unlock()
	s.Go(func(sctx context.Context) {
		h.expire(sctx)
		h.mu.Lock()
		if h.sess == s {
			h.sess = nil
		}
		h.mu.Unlock()
	})
	if err := h.reconcile(ctx, s); err != nil {
		h.log.Warn("cannot reconcile with the router's meta API; waiting for nodes to re-announce", "err", err)
	}
	if err := s.Publish(h.names.HubReady(), nil, wamp.List{}, wamp.Dict{"session": uint64(s.ID())}); err != nil {
		return fmt.Errorf("publishing %s: %w", h.names.HubReady(), err)
	}
	h.log.Info("hub ready", "realm", h.names.Realm, "base", h.names.Base, "nodes", h.count())
	return nil
}

// expire removes held nodes once their grace has passed, until ctx ends.
func (h *Hub) expire(ctx context.Context) {
	if h.grace == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(max(h.grace/8, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		h.publishLocked(h.dir.Expire(h.now()), "its session did not come back within the grace period")
		h.mu.Unlock()
	}
}

// register subscribes to leave events and registers the hub's procedures:
// leave detection first so that no departure goes unseen.
func (h *Hub) register(c *wampx.Session) error {
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
		err := registerRetrying(c, p.uri, p.fn, p.opts)
		if err != nil && p.opts != nil && !strings.Contains(err.Error(), string(wamp.ErrNotAuthorized)) && !strings.Contains(err.Error(), string(wamp.ErrProcedureAlreadyExists)) {
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

// registerRetrying registers a procedure, retrying for a while when it
// already exists: a router answers a leaving session's GOODBYE before it
// drops that session's registrations, so a hub restarted at once can find
// its predecessor's still there.
func registerRetrying(c *wampx.Session, uri string, fn client.InvocationHandler, opts wamp.Dict) error {
	const tries, pause = 50, 20 * time.Millisecond
	for i := 0; ; i++ {
		err := c.Register(uri, fn, opts)
		if err == nil || i == tries || !strings.Contains(err.Error(), string(wamp.ErrProcedureAlreadyExists)) {
			return err
		}
		select {
		case <-c.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dir.Len()
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
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(h.dir.Leave(uint64(sid)), "session left")
}

// publishLocked logs the directory's events and queues them on the
// current session, in order, and offers the directory's records to the
// state saver when they changed; h.mu is held. Without a session there is
// no one to tell.
func (h *Hub) publishLocked(ev []Event, why string) {
	if h.state != nil && h.dir.Changes() != h.saved {
		h.saved = h.dir.Changes()
		h.state.offer(h.dir.Records())
	}
	for _, e := range ev {
		topic := h.names.DataNodeAdded()
		if e.Kind == Subtracted {
			topic = h.names.DataNodeSubtracted()
			h.log.Info("data node removed", "node", e.Node.Name, "session", e.Node.Session, "reason", why)
		} else {
			h.log.Info("data node added", "node", e.Node.Name, "session", e.Node.Session, "description", e.Node.Description)
		}
		if h.sess == nil {
			continue
		}
		if err := h.sess.Publish(topic, nil, wamp.List{e.Node.Summary().Wire()}, nil); errors.Is(err, wampx.ErrBacklog) {
			h.log.Warn("outbox full; event dropped", "topic", topic, "node", e.Node.Name)
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
	a, err := decodeAnnounce(inv)
	if err != nil {
		return false, err
	}
	// A name held by another session is refused only while that session
	// lives: after a router restart the old holder is gone for good. The
	// router is asked outside the lock.
	h.mu.Lock()
	holder, held := h.dir.Holder(a.Name)
	h.mu.Unlock()
	holderGone := held && holder != a.Session && h.sessionGone(ctx, holder)

	h.mu.Lock()
	defer h.mu.Unlock()
	ok, ev, err := h.dir.Add(a, h.now(), func(sid uint64) bool { return holderGone && sid == holder })
	if err != nil {
		return false, err
	}
	if !ok && len(ev) == 0 {
		if cur, _ := h.dir.Holder(a.Name); cur != a.Session {
			h.log.Warn("data node name taken", "node", a.Name, "session", a.Session, "holder", cur)
		}
	}
	h.publishLocked(ev, "its session is gone and a new one claims the name")
	return ok, nil
}

// decodeAnnounce decodes data_node.add's arguments and the caller the
// router discloses.
func decodeAnnounce(inv *wamp.Invocation) (Announce, error) {
	var a Announce
	if len(inv.Arguments) < 2 {
		return a, protocol.Errorf(protocol.InvalidArgument, "data_node.add wants (name, description, session_id), got %d arguments", len(inv.Arguments))
	}
	var err error
	if a.Name, err = wampx.String("name", inv.Arguments[0]); err != nil {
		return a, err
	}
	if err := protocol.CheckNodeName(a.Name); err != nil {
		return a, err
	}
	if inv.Arguments[1] != nil {
		if a.Description, err = wampx.String("description", inv.Arguments[1]); err != nil {
			return a, err
		}
	}
	if a.Session, err = callerSession(inv, 2); err != nil {
		return a, err
	}
	a.AuthID, _ = wamp.AsString(inv.Details["caller_authid"])
	a.AuthRole, _ = wamp.AsString(inv.Details["caller_authrole"])
	kw := inv.ArgumentsKw
	if a.Fields, err = protocol.DecodeFieldMap(kw["fields"]); err != nil {
		return a, err
	}
	if a.Timelines, err = protocol.DecodeTimelineMap(kw["timelines"]); err != nil {
		return a, err
	}
	if m, ok := wamp.AsDict(kw["meta"]); ok {
		a.Meta = m
	} else if kw["meta"] != nil {
		return a, protocol.Errorf(protocol.InvalidArgument, "meta must be a map, got %T", kw["meta"])
	}
	a.HasFields, a.HasTimelines, a.HasMeta = kw["fields"] != nil, kw["timelines"] != nil, kw["meta"] != nil
	return a, nil
}

// sessionGone asks the router whether a session has ended. When the
// router cannot say, the session counts as alive.
func (h *Hub) sessionGone(ctx context.Context, sid uint64) bool {
	h.mu.Lock()
	s := h.sess
	h.mu.Unlock()
	if s == nil {
		return false
	}
	_, err := s.Call(ctx, string(wamp.MetaProcSessionGet), nil, wamp.List{sid}, nil, nil)
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
	if ok, ev := h.dir.Subtract(name, sid); ok {
		h.publishLocked(ev, "subtracted")
	} else {
		h.log.Warn("data_node.subtract ignored: no such node for this session", "node", name, "session", sid)
	}
	return client.InvokeResult{Args: wamp.List{nil}}
}

// snapshot returns the registered nodes sorted by name.
func (h *Hub) snapshot() []protocol.NodeInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dir.List()
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
