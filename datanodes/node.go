package datanodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/internal/version"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

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
	// queued holds the batches Emit accepted that the store does not
	// hold yet (see inflight): finalized_until stops before them.
	queued inflight
	kick   chan struct{}
	// changed signals new fields, which the hub should learn of.
	changed chan struct{}

	// now is the node's one clock (Config.Clock).
	now func() time.Time
	// sess is the current session (nil before the first); every send goes
	// through it, and a send on a lost one fails at once, so no lock is
	// held around it.
	sess       atomic.Pointer[wampx.Session]
	sinkErrors atomic.Int64
	storeErrs  storeErrors
	liveSent   atomic.Int64
	liveLost   atomic.Int64
	announced  chan struct{}
	// writes feeds the store's one writer (see writeLoop), which runs
	// while writing is set.
	writes   chan write
	writing  atomic.Bool
	emitWait time.Duration
	// health is what the watchdog reports (see Health).
	health     health
	healthAddr atomic.Value // string
	// sisock is set when the hub takes data_node.add in sisock's form
	// only (sisockhub.go).
	sisock sisockHub
	alarms *alarms
}

type namedDriver struct {
	name string
	drv  driver.Driver
}

type fieldState struct {
	meta     store.FieldMeta
	declared bool
	latest   *protocol.Reading
	// timeWarned: an implausible time was logged once for this field.
	timeWarned bool
	// final are the spans replies called final, where Emit refuses
	// readings (timewindow.go); finalWarned: one was logged.
	final       spans
	finalWarned bool
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
		writes:    make(chan write, writeQueue),
		emitWait:  emitWait,
		backoff:   wampx.DefaultBackoff,
		restart:   wampx.Backoff{Min: time.Second, Max: time.Minute},
		now:       cfg.Clock,
		alarms:    newAlarms(cfg.Limits),
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.health.since.Store(n.now().UnixNano())
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

// Run runs the drivers, the live publisher, the watchdog, the health
// endpoint (if configured) and the WAMP session until ctx ends, then
// withdraws from the hub and flushes the store, taking at most
// Config.StopTimeout for all of it: a driver or a session that does not
// stop in time is left behind with a warning, never waited for.
func (n *Node) Run(ctx context.Context) error {
	var hl net.Listener
	if addr := n.cfg.Health.Listen; addr != "" {
		var err error
		if hl, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("health listener: %w", err)
		}
		n.healthAddr.Store(hl.Addr().String())
	}
	var deadline time.Time
	quitWriter, writerDone := make(chan struct{}), make(chan struct{})
	n.writing.Store(true)
	go func() {
		defer close(writerDone)
		n.writeLoop(quitWriter, func() time.Time { return deadline })
	}()
	defer func() {
		n.writing.Store(false)
		select {
		case <-quitWriter:
		default:
			close(quitWriter)
		}
	}()
	var drivers sync.WaitGroup
	dctx, stopDrivers := context.WithCancel(ctx)
	defer stopDrivers()
	for _, d := range n.drivers {
		drivers.Add(1)
		go func() {
			defer drivers.Done()
			n.runDriver(dctx, d)
		}()
	}
	// The publisher, the session, the watchdog and the health endpoint
	// outlive ctx until the drivers have stopped and the node has said
	// goodbye to the hub.
	var rest sync.WaitGroup
	pctx, stopPublisher := context.WithCancel(context.Background())
	defer stopPublisher()
	rest.Add(1)
	go func() {
		defer rest.Done()
		n.publishLoop(pctx)
	}()
	kctx, stopKeep := context.WithCancel(context.Background())
	defer stopKeep()
	keepDone := make(chan struct{})
	go func() {
		defer close(keepDone)
		_ = wampx.Keep(kctx, n.dial, n.backoff, n.log, n.sessionOptions(), n.setup)
	}()
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	rest.Add(1)
	go func() {
		defer rest.Done()
		n.watchdog(wctx)
	}()
	if hl != nil {
		rest.Add(1)
		go func() {
			defer rest.Done()
			if err := n.serveHealth(wctx, hl); err != nil {
				n.log.Warn("health endpoint failed", "err", err)
			}
		}()
	}

	<-ctx.Done()
	deadline = time.Now().Add(n.cfg.StopTimeout.D())
	stopDrivers()
	n.waitUntil(deadline, time.Second, "drivers", drivers.Wait)
	n.writing.Store(false)
	close(quitWriter) // the writer stores what is queued
	stopPublisher()   // it publishes what is pending on its way out
	if s := n.sess.Load(); s != nil && s.Connected() {
		sctx, cancel := context.WithDeadline(context.Background(), earliest(deadline, time.Now().Add(time.Second)))
		if _, err := s.Call(sctx, n.names.DataNodeSubtract(), nil, wamp.List{n.cfg.Name, s.ID()}, nil, nil); err != nil {
			n.log.Debug("data_node.subtract failed", "err", err)
		}
		cancel()
	}
	stopKeep()
	n.waitUntil(deadline, 0, "session", func() { <-keepDone })
	stopWatch()
	n.waitUntil(deadline, 0, "publisher and health endpoint", rest.Wait)
	n.waitUntil(deadline, 0, "the store writer", func() { <-writerDone })
	// The flush gets what is left of the bound, and at least a second.
	fctx, cancel := context.WithDeadline(context.Background(), latest(deadline, time.Now().Add(time.Second)))
	defer cancel()
	if err := n.st.Flush(fctx); err != nil {
		return fmt.Errorf("flushing store: %w", err)
	}
	return nil
}

// waitUntil runs wait until it returns or the deadline passes, leaving at
// least reserve of the bound for later steps; it logs what it gave up on.
func (n *Node) waitUntil(deadline time.Time, reserve time.Duration, what string, wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); wait() }()
	t := time.NewTimer(max(time.Until(deadline)-reserve, 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		n.log.Warn("stopping without waiting for "+what, "stop_timeout", n.cfg.StopTimeout.D().String())
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// HealthAddr is the health endpoint's address once Run listens ("" if
// none is configured).
func (n *Node) HealthAddr() string { s, _ := n.healthAddr.Load().(string); return s }

// sessionOptions bounds the node's sessions: a send stalled for the
// router's response timeout drops the session, and closing one never
// takes longer than that either.
func (n *Node) sessionOptions() wampx.SessionOptions {
	t := n.cfg.Router.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return wampx.SessionOptions{StallTimeout: t, CloseTimeout: min(2*time.Second, n.cfg.StopTimeout.D()/2)}
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
// and the announcement loop, which the session owns and ends with it.
func (n *Node) setup(ctx context.Context, s *wampx.Session) error {
	// A cancelled call returns at once instead of waiting for the router
	// to confirm, which a router that went away never does.
	if err := s.SetCallCancelMode(wamp.CancelModeKillNoWait); err != nil {
		return err
	}
	if err := s.Register(n.names.GetFields(n.cfg.Name), n.invocation(s, n.getFields), nil); err != nil {
		return fmt.Errorf("registering get_fields: %w", err)
	}
	if err := s.Register(n.names.GetData(n.cfg.Name), n.invocation(s, n.getData), nil); err != nil {
		return fmt.Errorf("registering get_data: %w", err)
	}
	again := make(chan struct{}, 1)
	if err := s.Subscribe(n.names.HubReady(), func(*wamp.Event) {
		select {
		case again <- struct{}{}:
		default:
		}
	}, nil); err != nil {
		n.log.Warn("cannot subscribe to hub.ready", "err", err)
	}
	n.sess.Store(s)
	s.Go(func(sctx context.Context) {
		n.announceLoop(sctx, s, again)
		n.health.lost(n.now())
	})
	n.log.Info("session up", "session", uint64(s.ID()))
	return nil
}

// handler is a procedure of the node as a plain function of the call's
// arguments: progress sends a progressive result (nil when the caller
// does not accept them).
type handler func(ctx context.Context, args wamp.List, kw wamp.Dict, progress func(wamp.List) error) (wamp.List, error)

// invocation adapts a handler to the client's invocation handler on s.
func (n *Node) invocation(s *wampx.Session, h handler) client.InvocationHandler {
	return func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		var progress func(wamp.List) error
		if ok, _ := inv.Details[wamp.OptReceiveProgress].(bool); ok {
			progress = func(args wamp.List) error { return s.SendProgress(ctx, args, nil) }
		}
		res, err := h(ctx, inv.Arguments, inv.ArgumentsKw, progress)
		if err != nil {
			return n.fail(err)
		}
		return client.InvokeResult{Args: res}
	}
}

// announceLoop calls data_node.add until the hub accepts, with backoff
// while the hub is absent or refuses, and again on every hub.ready and
// whenever a driver declares a new field; it ends with ctx (the session).
func (n *Node) announceLoop(ctx context.Context, s *wampx.Session, again <-chan struct{}) {
	delay := n.backoff.Min
	accepted := false
	for {
		ok, err := n.announce(ctx, s)
		// The hub answers false to a repetition that changes nothing (as
		// sisock's did); for a session it accepted, that means listed.
		ok = ok || (accepted && err == nil)
		accepted = accepted || ok
		var wait <-chan time.Time
		if ok {
			delay = n.backoff.Min
			n.health.registered(n.now())
			select {
			case n.announced <- struct{}{}:
			default:
			}
		} else {
			if err == nil {
				err = errors.New("hub refused the name (held by another session)")
			}
			n.log.Debug("announcement not accepted; retrying", "err", err, "retry_in", delay.String())
			wait = time.After(delay)
			delay = min(delay*2, n.backoff.Max)
		}
		select {
		case <-ctx.Done():
			return
		case <-again:
		case <-n.changed:
		case <-wait:
		}
	}
}

func (n *Node) announce(ctx context.Context, s *wampx.Session) (bool, error) {
	fields, timelines := n.fieldMaps(nil)
	host, _ := os.Hostname()
	var types []string
	for _, d := range n.cfg.Drivers {
		types = append(types, d.Type)
	}
	kw := wamp.Dict{
		"fields": fields, "timelines": timelines,
		"meta": wamp.Dict{"version": version.Version, "host": host, "driver": types},
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := n.callAdd(cctx, s, wamp.List{n.cfg.Name, n.cfg.Description, s.ID()}, kw)
	if err != nil {
		return false, wampx.FromCall(n.names, err)
	}
	if len(res.Arguments) > 0 {
		if ok, _ := res.Arguments[0].(bool); ok {
			return true, nil
		}
	}
	return false, nil
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
		fi := m.Info()
		fi.Limits = n.alarms.of(m.Name)
		fields[m.Name] = fi.Wire()
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
