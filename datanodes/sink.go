package datanodes

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// maxLivePending bounds the readings waiting for the live topic; beyond it
// the oldest are dropped from the live stream (never from the store).
const maxLivePending = 1 << 20

// LiveMaxAge is how old a reading may be and still go out on the live
// topic: history a driver writes (a backfill, a file's past) is stored but
// not broadcast to every live subscriber.
const LiveMaxAge = time.Minute

// sink is the driver.Sink the node hands each driver.
type sink struct {
	n    *Node
	name string
}

func (s *sink) Declare(fields ...driver.Field) {
	n := s.n
	var metas []store.FieldMeta
	fresh := false
	n.mu.Lock()
	for _, f := range fields {
		m := store.FieldMeta{
			Name: f.Name, Description: f.Description, Units: f.Units,
			Type: f.Type, Timeline: f.Timeline, Interval: int64(f.Interval),
		}
		if m.Type == "" {
			m.Type = protocol.TypeNumber
		}
		if m.Timeline == "" {
			m.Timeline = m.Name
		}
		if err := checkField(m); err != nil {
			n.mu.Unlock()
			s.Error(err)
			n.mu.Lock()
			continue
		}
		if f.Limits != nil {
			if err := checkLimits(f.Name, *f.Limits); err != nil {
				n.mu.Unlock()
				s.Error(err)
				n.mu.Lock()
				f.Limits = nil
			}
		}
		n.alarms.declare(f.Name, f.Limits)
		fs := n.fields[m.Name]
		if fs == nil {
			fs = &fieldState{}
			n.fields[m.Name] = fs
		}
		if !fs.declared || fs.meta != m {
			fresh = true
		}
		fs.meta, fs.declared = m, true
		metas = append(metas, m)
	}
	n.mu.Unlock()
	if len(metas) == 0 {
		return
	}
	if fresh {
		select {
		case n.changed <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.st.PutFields(ctx, metas); err != nil {
		s.Error(fmt.Errorf("storing field metadata: %w", err))
	}
}

func checkField(m store.FieldMeta) error {
	if err := protocol.CheckFieldName(m.Name); err != nil {
		return err
	}
	if !protocol.ValidFieldName(m.Timeline) {
		return fmt.Errorf("field %s: invalid timeline name %q", m.Name, m.Timeline)
	}
	switch m.Type {
	case protocol.TypeNumber, protocol.TypeString, protocol.TypeBool:
	default:
		return fmt.Errorf("field %s: unknown type %q (want number, string or bool)", m.Name, m.Type)
	}
	return nil
}

func (s *sink) Emit(readings ...protocol.Reading) {
	n := s.n
	ok := make([]protocol.Reading, 0, len(readings))
	var bad []error
	now := n.now()
	cutoff := now.Add(-LiveMaxAge).UnixNano()
	win := n.timeWindow(now)
	live := 0
	n.mu.Lock()
	for _, r := range readings {
		fs := n.fields[r.Field]
		if fs == nil || !fs.declared {
			bad = append(bad, fmt.Errorf("reading of undeclared field %q dropped", r.Field))
			continue
		}
		if refused, warn := win.refuse(fs, r); refused {
			if warn != nil {
				bad = append(bad, warn)
			} else {
				n.sinkErrors.Add(1) // counted; logged once
			}
			continue
		}
		v, err := normalize(fs.meta.Type, r.Value)
		if err != nil {
			bad = append(bad, fmt.Errorf("field %s: %w", r.Field, err))
			continue
		}
		r.Value = v
		ok = append(ok, r)
		if r.Time >= cutoff {
			n.live = append(n.live, r)
			live++
		}
		if fs.latest == nil || r.Time >= fs.latest.Time {
			rr := r
			fs.latest = &rr
		}
	}
	if live > 0 {
		if over := len(n.live) - maxLivePending; over > 0 {
			n.live = append(n.live[:0], n.live[over:]...)
			n.liveLost.Add(int64(over))
		}
		if len(n.live) >= n.cfg.Live.MaxBatch {
			select {
			case n.kick <- struct{}{}:
			default:
			}
		}
	}
	var id uint64
	if len(ok) > 0 {
		id = n.queued.add(ok)
	}
	n.mu.Unlock()
	n.alarms.observe(ok, cutoff)
	for _, err := range bad {
		s.Error(err)
	}
	if len(ok) == 0 {
		return
	}
	s.enqueue(id, ok)
}

// writeQueue bounds the batches of readings waiting for the store's
// writer; emitWait is the longest Emit waits: for room in the queue (then
// the batch is dropped and the drop reported as a sink error) and for the
// writer to store it (then it stays queued and Emit returns).
const (
	writeQueue = 256
	emitWait   = time.Second
)

// write is a batch of readings on its way to the store; done closes once
// it is stored (or failed).
type write struct {
	s    *sink
	id   uint64 // in Node.queued
	rs   []protocol.Reading
	done chan struct{}
}

// enqueue hands a batch to the node's one store writer, so that a driver
// never waits on a store transaction for longer than emitWait: a store
// that keeps up has the batch stored when Emit returns, as before.
func (s *sink) enqueue(id uint64, rs []protocol.Reading) {
	w := write{s: s, id: id, rs: rs, done: make(chan struct{})}
	if !s.n.writing.Load() {
		// Outside Run (embedding code, tests) Emit writes itself, within
		// the same bound.
		ctx, cancel := context.WithTimeout(context.Background(), s.n.emitWait)
		defer cancel()
		s.n.write(ctx, w)
		return
	}
	t := time.NewTimer(s.n.emitWait)
	defer t.Stop()
	select {
	case s.n.writes <- w:
	case <-t.C:
		s.n.unqueue(id)
		s.Error(fmt.Errorf("store is not keeping up: %d readings dropped", len(rs)))
		return
	}
	select {
	case <-w.done:
	case <-t.C:
	}
}

// writeLoop appends the queued batches until quit closes, then what is
// still queued, giving up at the deadline deadline returns. Readings
// emitted while no Run is writing wait in the queue for the next.
func (n *Node) writeLoop(quit <-chan struct{}, deadline func() time.Time) {
	for {
		select {
		case w := <-n.writes:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			n.write(ctx, w)
			cancel()
		case <-quit:
			ctx, cancel := context.WithDeadline(context.Background(), deadline())
			defer cancel()
			for {
				select {
				case w := <-n.writes:
					n.write(ctx, w)
				default:
					return
				}
			}
		}
	}
}

func (n *Node) write(ctx context.Context, w write) {
	defer close(w.done)
	defer n.unqueue(w.id) // stored (visible to queries) or refused
	if err := n.appendReadings(ctx, w.rs); err != nil && !n.storeRefused(w.s, err) {
		w.s.Error(fmt.Errorf("storing %d readings: %w", len(w.rs), err))
	}
}

// normalize checks a value against the field's type, widening any Go
// number to float64. NaN and infinities are refused: a number column uses
// NaN for "no value" (see protocol's NaN rule), and no value is no reading.
func normalize(typ string, v any) (any, error) {
	pv, err := protocol.ValueOf(v)
	if err != nil || pv.Type != typ {
		return nil, fmt.Errorf("value %v (%T) is not a %s", v, v, typ)
	}
	if typ == protocol.TypeNumber && (math.IsNaN(pv.Num) || math.IsInf(pv.Num, 0)) {
		return nil, fmt.Errorf("value %v is not finite", pv.Num)
	}
	return pv.Any(), nil
}

func (s *sink) Error(err error) {
	s.n.sinkErrors.Add(1)
	s.n.log.Warn("driver error", "driver", s.name, "err", err)
}

// publishLoop publishes pending readings every live interval, or sooner
// when a batch fills; without a session they are dropped from the live
// stream only.
func (n *Node) publishLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Live.Interval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			n.publish()
			return
		case <-t.C:
		case <-n.kick:
		}
		n.publish()
	}
}

func (n *Node) publish() {
	n.publishAlarms()
	n.mu.Lock()
	batch := n.live
	n.live = nil
	n.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	s := n.sess.Load()
	if s == nil || !s.Connected() {
		n.liveLost.Add(int64(len(batch)))
		return
	}
	for len(batch) > 0 {
		k := min(len(batch), n.cfg.Live.MaxBatch)
		cols, err := protocol.Columns(batch[:k])
		if err != nil { // normalized by Emit: cannot happen
			n.log.Error("live batch", "err", err)
			n.liveLost.Add(int64(len(batch)))
			return
		}
		res := n.result(cols, nil)
		// Publish queues and returns at once; a lost session fails it at once.
		if err := s.Publish(n.names.Data(n.cfg.Name), nil, wamp.List{res}, nil); err != nil {
			n.liveLost.Add(int64(len(batch)))
			return
		}
		n.liveSent.Add(int64(k))
		batch = batch[k:]
	}
}

// appendReadings stores readings Emit has normalized, as typed columns.
func (n *Node) appendReadings(ctx context.Context, rs []protocol.Reading) error {
	cols, err := protocol.Columns(rs)
	if err != nil {
		return err
	}
	return n.st.Append(ctx, cols)
}

// timelineOf returns the timeline of a field (its own name when unknown).
func (n *Node) timelineOf(field string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if fs := n.fields[field]; fs != nil && fs.meta.Timeline != "" {
		return fs.meta.Timeline
	}
	return field
}

// result builds a get_data result or live batch with protocol's one
// encoder, each series on its field's timeline. finalized gives
// finalized_until per timeline (nil: null).
func (n *Node) result(series []protocol.Series, finalized func(tl string) *float64) map[string]any {
	for i := range series {
		series[i].Timeline = n.timelineOf(series[i].Field)
	}
	return protocol.EncodeResult(series, finalized)
}
