package datanodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Version is reported in the node's announcement meta.
var Version = "0.1.0-dev"

// Node is a running data node.
type Node struct {
	cfg     Config
	names   protocol.Names
	dial    wampx.Dialer
	st      store.Store
	log     *slog.Logger
	drivers []namedDriver
	// backoff paces reconnection and re-announcement, restart driver
	// restarts.
	backoff, restart wampx.Backoff

	mu     sync.Mutex
	fields map[string]*fieldState
	live   []protocol.Reading
	kick   chan struct{}
	// changed signals new fields, which the hub should learn of.
	changed chan struct{}

	sess atomic.Pointer[client.Client]
	// sendMu is held (shared) while the live publisher sends on sess and
	// (exclusively) while a session is withdrawn before it closes.
	sendMu     sync.RWMutex
	sinkErrors atomic.Int64
	liveSent   atomic.Int64
	liveLost   atomic.Int64
	announced  chan struct{}
	announceMu sync.Mutex
}

type namedDriver struct {
	name string
	drv  driver.Driver
}

type fieldState struct {
	meta     store.FieldMeta
	declared bool
	latest   *protocol.Reading
}

// New builds a node from cfg (defaults are set and it is validated): the
// drivers are decoded and initialized, the store's known fields loaded.
// dial connects to the router; st keeps readings; logger may be nil.
func New(cfg Config, dial wampx.Dialer, st store.Store, logger *slog.Logger) (*Node, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dial == nil || st == nil {
		return nil, errors.New("datanodes: a dialer and a store are required")
	}
	n := &Node{
		cfg: cfg, dial: dial, st: st, log: wampx.Logger(logger).With("node", cfg.Name),
		fields:    map[string]*fieldState{},
		kick:      make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
		announced: make(chan struct{}, 1),
		backoff:   wampx.DefaultBackoff,
		restart:   wampx.Backoff{Min: time.Second, Max: time.Minute},
	}
	n.names, _ = cfg.Names()
	for i, d := range cfg.Drivers {
		drv, err := d.Build()
		if err != nil {
			return nil, fmt.Errorf("drivers[%d]: %w", i, err)
		}
		n.drivers = append(n.drivers, namedDriver{name: fmt.Sprintf("%s#%d", d.Type, i), drv: drv})
	}
	metas, err := st.Fields(context.Background(), 0, 0)
	if err != nil {
		return nil, fmt.Errorf("loading fields: %w", err)
	}
	for _, m := range metas {
		n.fields[m.Name] = &fieldState{meta: m}
	}
	return n, nil
}

// Names returns the protocol names the node uses.
func (n *Node) Names() protocol.Names { return n.names }

// Stats are the node's counters.
type Stats struct {
	// SinkErrors counts errors drivers reported and readings refused.
	SinkErrors int64
	// LiveSent counts readings published on the live topic; LiveLost
	// those dropped because no session was up (they are still stored).
	LiveSent, LiveLost int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{SinkErrors: n.sinkErrors.Load(), LiveSent: n.liveSent.Load(), LiveLost: n.liveLost.Load()}
}

// Sink returns a sink feeding the node, for embedding code that produces
// readings itself (and for tests).
func (n *Node) Sink() driver.Sink { return &sink{n: n, name: "embedded"} }

// Run runs the drivers, the live publisher and the WAMP session until ctx
// ends, then withdraws from the hub and flushes the store.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	dctx, stopDrivers := context.WithCancel(ctx)
	defer stopDrivers()
	for _, d := range n.drivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.runDriver(dctx, d)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.publishLoop(dctx)
	}()

	// The session outlives ctx just long enough to call data_node.subtract.
	kctx, stopKeep := context.WithCancel(context.Background())
	keepDone := make(chan struct{})
	go func() {
		defer close(keepDone)
		_ = wampx.KeepSession(kctx, n.dial, n.backoff, n.log, n.setup)
	}()
	<-ctx.Done()
	stopDrivers()
	wg.Wait()
	// Under sendMu, so that a session dropping right now is not closed
	// under the call (its stop takes sendMu before Close).
	n.sendMu.RLock()
	if c := n.sess.Load(); c != nil && c.Connected() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := wampx.Guard(func() error {
			_, err := c.Call(sctx, n.names.DataNodeSubtract(), nil, wamp.List{n.cfg.Name, c.ID()}, nil, nil)
			return err
		}); err != nil {
			n.log.Debug("data_node.subtract failed", "err", err)
		}
		cancel()
	}
	n.sendMu.RUnlock()
	stopKeep()
	<-keepDone
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.st.Flush(fctx); err != nil {
		return fmt.Errorf("flushing store: %w", err)
	}
	return nil
}

// runDriver runs one driver, restarting it with backoff when it fails or
// panics; it returns when ctx ends.
func (n *Node) runDriver(ctx context.Context, d namedDriver) {
	s := &sink{n: n, name: d.name}
	delay := n.restart.Min
	for {
		start := time.Now()
		err := safeRun(ctx, d.drv, s)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("driver stopped on its own")
		}
		if time.Since(start) > n.restart.Max {
			delay = n.restart.Min
		}
		n.log.Warn("driver failed; restarting", "driver", d.name, "err", err, "retry_in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, n.restart.Max)
	}
}

func safeRun(ctx context.Context, d driver.Driver, s driver.Sink) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("driver panicked: %v", r)
		}
	}()
	return d.Run(ctx, s)
}

// setup prepares a new session: procedures, the hub.ready subscription
// and the announcement. The returned stop ends the announcement loop and
// withdraws the session from the live publisher before Keep closes it, so
// nothing is sent on a closing session.
func (n *Node) setup(ctx context.Context, c *client.Client) (func(), error) {
	// A cancelled call returns at once instead of waiting for the router
	// to confirm, which a router that went away never does.
	if err := c.SetCallCancelMode(wamp.CancelModeKillNoWait); err != nil {
		return nil, err
	}
	if err := c.Register(n.names.GetFields(n.cfg.Name), n.handleGetFields, nil); err != nil {
		return nil, fmt.Errorf("registering get_fields: %w", err)
	}
	if err := c.Register(n.names.GetData(n.cfg.Name), n.handleGetData, nil); err != nil {
		return nil, fmt.Errorf("registering get_data: %w", err)
	}
	again := make(chan struct{}, 1)
	if err := c.Subscribe(n.names.HubReady(), func(*wamp.Event) {
		select {
		case again <- struct{}{}:
		default:
		}
	}, nil); err != nil {
		n.log.Warn("cannot subscribe to hub.ready", "err", err)
	}
	n.sess.Store(c)
	actx, stopAnnounce := context.WithCancel(ctx)
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		n.announceLoop(actx, c, again)
	}()
	n.log.Info("session up", "session", uint64(c.ID()))
	return func() {
		stopAnnounce()
		select {
		case <-announced:
		case <-time.After(time.Second): // a call stuck on a dead connection
		}
		n.sendMu.Lock()
		n.sess.CompareAndSwap(c, nil)
		n.sendMu.Unlock()
	}, nil
}

// announceLoop calls data_node.add until the hub accepts, with backoff
// while the hub is absent or refuses, and again on every hub.ready and
// whenever a driver declares a new field.
func (n *Node) announceLoop(ctx context.Context, c *client.Client, again <-chan struct{}) {
	delay := n.backoff.Min
	for {
		ok, err := n.announce(ctx, c)
		var wait <-chan time.Time
		if ok {
			delay = n.backoff.Min
			select {
			case n.announced <- struct{}{}:
			default:
			}
		} else {
			n.log.Debug("announcement not accepted; retrying", "err", err, "retry_in", delay.String())
			wait = time.After(delay)
			delay = min(delay*2, n.backoff.Max)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			return
		case <-again:
		case <-n.changed:
		case <-wait:
		}
	}
}

func (n *Node) announce(ctx context.Context, c *client.Client) (bool, error) {
	n.announceMu.Lock()
	defer n.announceMu.Unlock()
	fields, timelines := n.fieldMaps(nil)
	host, _ := os.Hostname()
	var types []string
	for _, d := range n.cfg.Drivers {
		types = append(types, d.Type)
	}
	kw := wamp.Dict{
		"fields": fields, "timelines": timelines,
		"meta": wamp.Dict{"version": Version, "host": host, "driver": types},
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var res *wamp.Result
	err := wampx.Guard(func() (err error) {
		res, err = c.Call(cctx, n.names.DataNodeAdd(), nil, wamp.List{n.cfg.Name, n.cfg.Description, c.ID()}, kw, nil)
		return err
	})
	if err != nil {
		return false, wampx.FromCall(n.names, err)
	}
	if len(res.Arguments) > 0 {
		if ok, _ := res.Arguments[0].(bool); ok {
			return true, nil
		}
	}
	return false, errors.New("hub refused the name (held by another session)")
}

// Announced receives a value after each accepted announcement (buffered
// by one), for tests and embedding code.
func (n *Node) Announced() <-chan struct{} { return n.announced }

// fieldMaps returns the wire maps of get_fields for the fields that keep
// returns true for (nil: every known field).
func (n *Node) fieldMaps(keep func(*fieldState) bool) (wamp.Dict, wamp.Dict) {
	n.mu.Lock()
	metas := make([]store.FieldMeta, 0, len(n.fields))
	for name, fs := range n.fields {
		if keep == nil || keep(fs) {
			m := fs.meta
			m.Name = name
			metas = append(metas, m)
		}
	}
	n.mu.Unlock()
	fields := wamp.Dict{}
	for _, m := range metas {
		fields[m.Name] = m.Info().Wire()
	}
	timelines := wamp.Dict{}
	for name, ti := range store.Timelines(metas) {
		timelines[name] = ti.Wire()
	}
	return fields, timelines
}

// Latest returns the newest reading of each field this run has seen.
func (n *Node) Latest() map[string]protocol.Reading {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]protocol.Reading{}
	for name, fs := range n.fields {
		if fs.latest != nil {
			out[name] = *fs.latest
		}
	}
	return out
}
