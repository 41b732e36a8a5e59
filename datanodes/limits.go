package datanodes

import (
	"fmt"
	"sort"
	"sync"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
)

// AlarmTopic is the topic on which the data node named node publishes
// each limit transition of its fields (a protocol.LimitTransition).
func AlarmTopic(n protocol.Names, node string) string { return n.NodePrefix(node) + "alarm" }

// checkLimits reports limits that cannot work (protocol.Limits.Check),
// naming the field.
func checkLimits(field string, l protocol.Limits) error {
	if err := l.Check(); err != nil {
		return fmt.Errorf("limits of %s: %w", field, err)
	}
	return nil
}

// alarms keeps the limits of a node's fields, follows their states with
// the one protocol.LimitTracker rule, and queues the transitions that live
// readings cause until the publisher sends them. Limits from the node file
// win over those a driver declares.
type alarms struct {
	mu         sync.Mutex
	configured map[string]protocol.Limits
	declared   map[string]protocol.Limits
	tracker    *protocol.LimitTracker
	pending    []protocol.LimitTransition
}

// maxPendingTransitions bounds the queue while no session is up; the
// oldest transitions go first (the current state is in every next one).
const maxPendingTransitions = 1000

func newAlarms(configured map[string]protocol.Limits) *alarms {
	return &alarms{configured: configured, declared: map[string]protocol.Limits{}, tracker: protocol.NewLimitTracker(configured)}
}

// declare records the limits a driver declares for a field (nil: none).
func (a *alarms) declare(field string, l *protocol.Limits) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l == nil {
		delete(a.declared, field)
	} else {
		a.declared[field] = *l
	}
	if eff, ok := a.limitsLocked(field); ok {
		a.tracker.SetLimits(field, &eff)
	} else {
		a.tracker.SetLimits(field, nil)
	}
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
		if _, num := r.Value.(float64); num && r.Time >= cutoff && a.tracker.Tracks(r.Field) {
			live = append(live, r)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].Time < live[j].Time })
	for _, r := range live {
		tr, ok := a.tracker.Observe(r.Field, r.Time, r.Value.(float64))
		if !ok {
			continue
		}
		a.pending = append(a.pending, tr)
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
		if err := c.Publish(topic, nil, wamp.List{tr.Wire()}, nil); err != nil {
			return
		}
	}
}
