// Package consumers is the Go client of telemesh: it lists the data nodes
// a hub knows, reads their fields and time-ranged data, and follows their
// live readings. A Client keeps its session to the router across router
// restarts and re-subscribes by itself.
//
// It speaks only the wire protocol, so it works against sisock-era hubs
// and data nodes too.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Query selects what GetData returns.
type Query struct {
	// Fields to read.
	Fields []string
	// Start and End bound the half-open interval [Start, End) in float
	// seconds since the epoch; values <= 0 are relative to now (sisock).
	Start, End float64
	// MinStride is the smallest bucket width in seconds; 0 for none.
	MinStride float64
	// MaxPoints caps the points per field; 0 for no cap.
	MaxPoints int
	// Agg is the bucket aggregation (mean, min, max, last, minmax); empty
	// lets the node choose (mean).
	Agg string
}

// Client is a consumer session to a telemesh (or sisock) deployment.
type Client struct {
	dial  wampx.Dialer
	names protocol.Names
	log   *slog.Logger

	mu       sync.Mutex
	sess     *wampx.Session
	ready    chan struct{} // closed while sess is set
	nextID   int
	topics   map[string]map[int]func(*protocol.DataResult)
	watchers map[int]func(bool, protocol.NodeSummary)
}

// New returns a client that dials with dial; Run connects it.
func New(dial wampx.Dialer, n protocol.Names, logger *slog.Logger) *Client {
	return &Client{
		dial:     dial,
		names:    n,
		log:      wampx.Logger(logger),
		ready:    make(chan struct{}),
		topics:   map[string]map[int]func(*protocol.DataResult){},
		watchers: map[int]func(bool, protocol.NodeSummary){},
	}
}

// Run keeps a session to the router until ctx ends, reconnecting after
// losses, and returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	err := wampx.Keep(ctx, c.dial, wampx.DefaultBackoff, c.log, wampx.SessionOptions{}, c.setup)
	c.mu.Lock()
	c.sess = nil
	c.mu.Unlock()
	return err
}

func (c *Client) setup(_ context.Context, s *wampx.Session) error {
	if err := s.Subscribe(c.names.DataNodeAdded(), func(ev *wamp.Event) { c.nodeEvent(true, ev) }, nil); err != nil {
		return fmt.Errorf("subscribing to node events: %w", err)
	}
	if err := s.Subscribe(c.names.DataNodeSubtracted(), func(ev *wamp.Event) { c.nodeEvent(false, ev) }, nil); err != nil {
		return fmt.Errorf("subscribing to node events: %w", err)
	}
	c.mu.Lock()
	topics := make([]string, 0, len(c.topics))
	for t := range c.topics {
		topics = append(topics, t)
	}
	c.mu.Unlock()
	for _, t := range topics {
		if err := s.Subscribe(t, c.dispatch(t), nil); err != nil {
			return fmt.Errorf("subscribing to %s: %w", t, err)
		}
	}
	c.mu.Lock()
	// Topics added while we subscribed the others.
	var late []string
	for t := range c.topics {
		if _, ok := s.SubscriptionID(t); !ok {
			late = append(late, t)
		}
	}
	c.sess = s
	select {
	case <-c.ready: // the previous session's watcher has not reset it yet
		c.ready = make(chan struct{})
	default:
	}
	close(c.ready)
	c.mu.Unlock()
	for _, t := range late {
		if err := s.Subscribe(t, c.dispatch(t), nil); err != nil {
			c.log.Warn("cannot subscribe", "topic", t, "err", err)
		}
	}
	go func() {
		<-s.Done()
		c.mu.Lock()
		if c.sess == s {
			c.sess = nil
			c.ready = make(chan struct{})
		}
		c.mu.Unlock()
	}()
	c.log.Debug("consumer session ready", "session", s.ID())
	return nil
}

// Ready waits until the client has a session, or ctx ends.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.session(ctx)
	return err
}

func (c *Client) session(ctx context.Context) (*wampx.Session, error) {
	for {
		c.mu.Lock()
		s, ready := c.sess, c.ready
		c.mu.Unlock()
		if s != nil && s.Connected() {
			return s, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("no session to the router: %w", ctx.Err())
		}
		if s != nil {
			// The session died but its watcher has not reset ready yet.
			select {
			case <-s.Done():
			case <-ctx.Done():
				return nil, fmt.Errorf("no session to the router: %w", ctx.Err())
			}
		}
	}
}

// call calls a procedure, mapping errors to protocol errors.
func (c *Client) call(ctx context.Context, proc string, args wamp.List, kw wamp.Dict, prog client.ProgressHandler) (*wamp.Result, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Call(ctx, proc, nil, args, kw, prog)
	if err != nil {
		return nil, wampx.FromCall(c.names, err)
	}
	return res, nil
}

// Nodes lists the data nodes the hub knows. Against a sisock hub, which
// has no list_nodes, only names and descriptions are filled in.
func (c *Client) Nodes(ctx context.Context) ([]protocol.NodeInfo, error) {
	res, err := c.call(ctx, c.names.ListNodes(), nil, nil, nil)
	if err == nil {
		return protocol.DecodeNodeInfos(first(res))
	}
	if !protocol.IsKind(err, protocol.NoSuchNode) {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	res, err = c.call(ctx, c.names.GetDataNode(), nil, nil, nil)
	if err != nil {
		if protocol.IsKind(err, protocol.NoSuchNode) {
			return nil, protocol.Errorf(protocol.Unavailable, "no hub is running in realm %s (nobody serves %s)", c.names.Realm, c.names.GetDataNode())
		}
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	sums, err := protocol.DecodeNodeSummaries(first(res))
	if err != nil {
		return nil, err
	}
	out := make([]protocol.NodeInfo, len(sums))
	for i, s := range sums {
		out[i] = protocol.NodeInfo{Name: s.Name, Description: s.Description}
	}
	return out, nil
}

// Fields returns the fields and timelines a node has data for in
// [start, end); Fields(ctx, node, 1, 0) asks for all time.
func (c *Client) Fields(ctx context.Context, node string, start, end float64) (map[string]protocol.FieldInfo, map[string]protocol.TimelineInfo, error) {
	if err := protocol.CheckNodeName(node); err != nil {
		return nil, nil, err
	}
	res, err := c.call(ctx, c.names.GetFields(node), wamp.List{start, end}, nil, nil)
	if err != nil {
		return nil, nil, nodeErr(node, err)
	}
	pair, ok := wamp.AsList(first(res))
	if !ok || len(pair) != 2 {
		return nil, nil, fmt.Errorf("%s.get_fields: want [field, timeline], got %v", node, first(res))
	}
	fs, err := protocol.DecodeFieldMap(pair[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%s.get_fields: %w", node, err)
	}
	ts, err := protocol.DecodeTimelineMap(pair[1])
	if err != nil {
		return nil, nil, fmt.Errorf("%s.get_fields: %w", node, err)
	}
	return fs, ts, nil
}

// GetData reads a node's data. It asks for progressive results, so a
// node that streams a large answer in slices is merged into one result.
func (c *Client) GetData(ctx context.Context, node string, q Query) (*protocol.DataResult, error) {
	if err := protocol.CheckNodeName(node); err != nil {
		return nil, err
	}
	if len(q.Fields) == 0 {
		return nil, protocol.Errorf(protocol.InvalidArgument, "no fields requested")
	}
	if q.Agg != "" {
		if err := protocol.CheckAgg(q.Agg); err != nil {
			return nil, err
		}
	}
	fields := make(wamp.List, len(q.Fields))
	for i, f := range q.Fields {
		fields[i] = f
	}
	kw := wamp.Dict{}
	if q.MinStride > 0 {
		kw["min_stride"] = q.MinStride
	}
	if q.MaxPoints > 0 {
		kw["max_points"] = q.MaxPoints
	}
	if q.Agg != "" {
		kw["agg"] = q.Agg
	}
	out := &protocol.DataResult{Data: map[string]protocol.Values{}, Timeline: map[string]protocol.TimelineData{}}
	var perr error
	prog := func(r *wamp.Result) {
		if perr != nil {
			return
		}
		part, err := protocol.DecodeDataResult(first(r))
		if err == nil {
			err = out.Append(part)
		}
		perr = err
	}
	res, err := c.call(ctx, c.names.GetData(node), wamp.List{fields, q.Start, q.End}, kw, prog)
	if err != nil {
		return nil, nodeErr(node, err)
	}
	if perr != nil {
		return nil, fmt.Errorf("%s.get_data: %w", node, perr)
	}
	if len(res.Arguments) > 0 && res.Arguments[0] != nil {
		part, err := protocol.DecodeDataResult(res.Arguments[0])
		if err == nil {
			err = out.Append(part)
		}
		if err != nil {
			return nil, fmt.Errorf("%s.get_data: %w", node, err)
		}
	}
	return out, nil
}

// Subscribe calls fn with every batch of live readings node publishes,
// until stop is called; it follows the node across reconnections. fn runs
// on the session's event loop: it must not block or call the client.
func (c *Client) Subscribe(ctx context.Context, node string, fn func(*protocol.DataResult)) (stop func(), err error) {
	if err := protocol.CheckNodeName(node); err != nil {
		return nil, err
	}
	topic := c.names.Data(node)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	hs := c.topics[topic]
	first := hs == nil
	if first {
		hs = map[int]func(*protocol.DataResult){}
		c.topics[topic] = hs
	}
	hs[id] = fn
	s := c.sess
	c.mu.Unlock()
	stop = func() {
		c.mu.Lock()
		hs := c.topics[topic]
		delete(hs, id)
		var sess *wampx.Session
		if len(hs) == 0 && c.topics[topic] != nil {
			delete(c.topics, topic)
			sess = c.sess
		}
		c.mu.Unlock()
		// Unsubscribe before returning, outside the lock, so that a caller
		// that stops its subscriptions and then ends Run never has the
		// session closed under the unsubscription; a session the router
		// closes meanwhile fails it at once.
		if sess != nil {
			_ = sess.Unsubscribe(topic)
		}
	}
	if first && s != nil {
		if err := s.Subscribe(topic, c.dispatch(topic), nil); err != nil && !wampx.IsClosed(err) {
			stop()
			return nil, fmt.Errorf("subscribing to %s: %w", topic, err)
		}
		// A lost session re-subscribes every topic when it comes back.
	}
	return stop, nil
}

func (c *Client) dispatch(topic string) client.EventHandler {
	return func(ev *wamp.Event) {
		if len(ev.Arguments) == 0 {
			return
		}
		r, err := protocol.DecodeDataResult(ev.Arguments[0])
		if err != nil {
			c.log.Warn("ignoring malformed live batch", "topic", topic, "err", err)
			return
		}
		c.mu.Lock()
		fns := make([]func(*protocol.DataResult), 0, len(c.topics[topic]))
		for _, fn := range c.topics[topic] {
			fns = append(fns, fn)
		}
		c.mu.Unlock()
		for _, fn := range fns {
			fn(r)
		}
	}
}

// WatchNodes calls fn whenever the hub announces a node added (true) or
// subtracted (false), until stop is called. fn runs on the session's event
// loop: it must not block or call the client.
func (c *Client) WatchNodes(fn func(added bool, n protocol.NodeSummary)) (stop func()) {
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.watchers[id] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.watchers, id)
		c.mu.Unlock()
	}
}

func (c *Client) nodeEvent(added bool, ev *wamp.Event) {
	if len(ev.Arguments) == 0 {
		return
	}
	n, err := protocol.DecodeNodeSummary(ev.Arguments[0])
	if err != nil {
		c.log.Warn("ignoring malformed node event", "err", err)
		return
	}
	c.mu.Lock()
	fns := make([]func(bool, protocol.NodeSummary), 0, len(c.watchers))
	for _, fn := range c.watchers {
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn(added, n)
	}
}

// nodeErr names the node when its procedures do not exist.
func nodeErr(node string, err error) error {
	if protocol.IsKind(err, protocol.NoSuchNode) {
		return &protocol.Error{Kind: protocol.NoSuchNode,
			Message: fmt.Sprintf("no data node named %q is connected (telemesh nodes lists them)", node), Err: err}
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("node %s: %w", node, err)
}

func first(r *wamp.Result) any {
	if r == nil || len(r.Arguments) == 0 {
		return nil
	}
	return r.Arguments[0]
}
