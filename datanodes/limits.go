package datanodes

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
)

// AlarmTopic is the topic on which the data node named node publishes
// each limit transition of its fields (a protocol.LimitTransition).
func AlarmTopic(n protocol.Names, node string) string { return n.NodePrefix(node) + "alarm" }

// checkLimits reports limits that cannot work: no range, a low bound above
// its high one, non-finite bounds, an alarm range inside the warning
// range, or a negative hysteresis.
func checkLimits(field string, l protocol.Limits) error {
	empty := func(r *protocol.Range) bool { return r == nil || r.Low == nil && r.High == nil }
	if empty(l.Warning) && empty(l.Alarm) {
		return fmt.Errorf("limits of %s: give a warning or an alarm range (low, high or both)", field)
	}
	for _, r := range []struct {
		name string
		r    *protocol.Range
	}{{"warning", l.Warning}, {"alarm", l.Alarm}} {
		if r.r == nil {
			continue
		}
		for _, b := range []*float64{r.r.Low, r.r.High} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return fmt.Errorf("limits of %s: %s bound %v is not finite", field, r.name, *b)
			}
		}
		if r.r.Low != nil && r.r.High != nil && *r.r.Low >= *r.r.High {
			return fmt.Errorf("limits of %s: %s low %v is not below high %v", field, r.name, *r.r.Low, *r.r.High)
		}
	}
	if w, a := l.Warning, l.Alarm; w != nil && a != nil {
		if w.Low != nil && a.Low != nil && *a.Low > *w.Low || w.High != nil && a.High != nil && *a.High < *w.High {
			return fmt.Errorf("limits of %s: the alarm range must contain the warning range", field)
		}
	}
	if l.Hysteresis < 0 || math.IsNaN(l.Hysteresis) || math.IsInf(l.Hysteresis, 0) {
		return fmt.Errorf("limits of %s: hysteresis %v must be a number not below 0", field, l.Hysteresis)
	}
	return nil
}

// hysteresis is l's hysteresis, or the default when it sets none: 1% of
// the width of the innermost range with both bounds, else 1% of the
// magnitude of its one bound.
func hysteresis(l protocol.Limits) float64 {
	if l.Hysteresis > 0 {
		return l.Hysteresis
	}
	r := l.Warning
	if r == nil || r.Low == nil && r.High == nil {
		r = l.Alarm
	}
	if r == nil {
		return 0
	}
	if r.Low != nil && r.High != nil {
		return (*r.High - *r.Low) / 100
	}
	b := r.Low
	if b == nil {
		b = r.High
	}
	if b == nil {
		return 0
	}
	return max(math.Abs(*b)/100, 1e-9)
}

// limitState is the state of v with every range of l narrowed by h.
func limitState(l protocol.Limits, v, h float64) string {
	outside := func(r *protocol.Range) bool {
		return r != nil && (r.Low != nil && v < *r.Low+h || r.High != nil && v > *r.High-h)
	}
	switch {
	case outside(l.Alarm):
		return protocol.LimitAlarm
	case outside(l.Warning):
		return protocol.LimitWarning
	}
	return protocol.LimitOK
}

// nextLimitState returns the state after a reading v in state cur: a worse
// state is entered as soon as v crosses its bound, a better one only once
// v is back inside by the hysteresis, so a value jittering at a bound
// makes one transition, not one per reading.
func nextLimitState(l protocol.Limits, cur string, v float64) string {
	raw := limitState(l, v, 0)
	if limitRank(raw) >= limitRank(cur) {
		return raw
	}
	if back := limitState(l, v, hysteresis(l)); limitRank(back) < limitRank(cur) {
		return back
	}
	return cur
}

func limitRank(s string) int {
	switch s {
	case protocol.LimitWarning:
		return 1
	case protocol.LimitAlarm:
		return 2
	}
	return 0
}

// alarms keeps the limits of a node's fields and their states, and queues
// the transitions that live readings cause until the publisher sends them.
// Limits from the node file win over those a driver declares.
type alarms struct {
	mu         sync.Mutex
	configured map[string]protocol.Limits
	declared   map[string]protocol.Limits
	state      map[string]string
	pending    []protocol.LimitTransition
}

// maxPendingTransitions bounds the queue while no session is up; the
// oldest transitions go first (the current state is in every next one).
const maxPendingTransitions = 1000

func newAlarms(configured map[string]protocol.Limits) *alarms {
	return &alarms{configured: configured, declared: map[string]protocol.Limits{}, state: map[string]string{}}
}

// declare records the limits a driver declares for a field (nil: none).
func (a *alarms) declare(field string, l *protocol.Limits) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l == nil {
		delete(a.declared, field)
		return
	}
	a.declared[field] = *l
}

// of returns the limits of field, nil when it has none.
func (a *alarms) of(field string) *protocol.Limits {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.limitsLocked(field)
	if !ok {
		return nil
	}
	return &l
}

func (a *alarms) limitsLocked(field string) (protocol.Limits, bool) {
	if l, ok := a.configured[field]; ok {
		return l, true
	}
	l, ok := a.declared[field]
	return l, ok
}

// observe runs numeric readings stamped at or after cutoff (nanoseconds;
// history such as a backfill is not live and raises nothing) through
// their fields' limits, in time order.
func (a *alarms) observe(rs []protocol.Reading, cutoff int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.configured) == 0 && len(a.declared) == 0 {
		return
	}
	var live []protocol.Reading
	for _, r := range rs {
		if _, ok := a.limitsLocked(r.Field); ok && r.Time >= cutoff {
			if _, num := r.Value.(float64); num {
				live = append(live, r)
			}
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].Time < live[j].Time })
	for _, r := range live {
		l, _ := a.limitsLocked(r.Field)
		v := r.Value.(float64)
		cur := a.state[r.Field]
		if cur == "" {
			cur = protocol.LimitOK
		}
		next := nextLimitState(l, cur, v)
		a.state[r.Field] = next
		if next == cur {
			continue
		}
		a.pending = append(a.pending, protocol.LimitTransition{Field: r.Field, T: protocol.FromNanos(r.Time), Value: v, State: next, Previous: cur})
		if over := len(a.pending) - maxPendingTransitions; over > 0 {
			a.pending = append(a.pending[:0], a.pending[over:]...)
		}
	}
}

// take returns and clears the queued transitions.
func (a *alarms) take() []protocol.LimitTransition {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending
	a.pending = nil
	return p
}

// transitionWire is a transition as published on AlarmTopic.
func transitionWire(tr protocol.LimitTransition) map[string]any {
	return map[string]any{"field": tr.Field, "t": tr.T, "value": tr.Value, "state": tr.State, "previous": tr.Previous}
}

// publishAlarms sends the queued transitions on AlarmTopic; without a
// session they are dropped (the state they report is in the next one and
// in get_data).
func (n *Node) publishAlarms() {
	trs := n.alarms.take()
	if len(trs) == 0 {
		return
	}
	c := n.sess.Load()
	if c == nil || !c.Connected() {
		return
	}
	topic := AlarmTopic(n.names, n.cfg.Name)
	for _, tr := range trs {
		n.log.Info("limit transition", "field", tr.Field, "state", tr.State, "previous", tr.Previous, "value", tr.Value)
		// Publish queues and returns at once; a lost session fails it at once.
		if err := c.Publish(topic, nil, wamp.List{transitionWire(tr)}, nil); err != nil {
			return
		}
	}
}
