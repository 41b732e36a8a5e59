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
	"github.com/telemesh/telemesh/wampx"
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
	cutoff := time.Now().Add(-LiveMaxAge).UnixNano()
	live := 0
	n.mu.Lock()
	for _, r := range readings {
		fs := n.fields[r.Field]
		if fs == nil || !fs.declared {
			bad = append(bad, fmt.Errorf("reading of undeclared field %q dropped", r.Field))
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
	n.mu.Unlock()
	for _, err := range bad {
		s.Error(err)
	}
	if len(ok) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.appendReadings(ctx, ok); err != nil {
		s.Error(fmt.Errorf("storing %d readings: %w", len(ok), err))
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
	n.mu.Lock()
	batch := n.live
	n.live = nil
	n.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	n.sendMu.RLock()
	defer n.sendMu.RUnlock()
	c := n.sess.Load()
	if c == nil || !c.Connected() {
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
		if err := wampx.Guard(func() error { return c.Publish(n.names.Data(n.cfg.Name), nil, wamp.List{res}, nil) }); err != nil {
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
