package datanodes

import (
	"fmt"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// timeWindow is the rule Emit applies to a reading's time: within the
// plausible window of the node's clock (Config.Time), and after every span
// a get_data reply has called final for its field (finalized_until).
type timeWindow struct {
	future      int64 // the latest time taken, ns
	beforeEpoch bool
	horizon     time.Duration // config, for the message
}

// timeWindow is the window at the node's time now.
func (n *Node) timeWindow(now time.Time) timeWindow {
	return timeWindow{
		future:      now.Add(n.cfg.Time.Future.D()).UnixNano(),
		beforeEpoch: n.cfg.Time.BeforeEpoch,
		horizon:     n.cfg.Time.Future.D(),
	}
}

// refuse reports whether r must be refused; fs is its field's state and
// n.mu is held. The first refusal of each kind for a field returns the
// error to log (and count); later ones return nil and the caller counts
// them only.
func (w timeWindow) refuse(fs *fieldState, r protocol.Reading) (bool, error) {
	at := func() string { return time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano) }
	switch {
	case r.Time > w.future || (r.Time < 0 && !w.beforeEpoch):
		if fs.timeWarned {
			return true, nil
		}
		fs.timeWarned = true
		return true, fmt.Errorf("field %s: reading at %s outside the plausible window (up to %s ahead, none before 1970 unless time.before_epoch); such readings are refused and counted", r.Field, at(), w.horizon)
	case r.Time < fs.final:
		if fs.finalWarned {
			return true, nil
		}
		fs.finalWarned = true
		return true, fmt.Errorf("field %s: reading at %s is inside the span a reply called finalized (until %s); such readings are refused and counted", r.Field, at(), time.Unix(0, fs.final).UTC().Format(time.RFC3339Nano))
	}
	return false, nil
}

// markFinal records that a reply calls the data of fields before until
// (ns) final: Emit refuses readings there from now on.
func (n *Node) markFinal(fields []string, until int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, f := range fields {
		if fs := n.fields[f]; fs != nil && until > fs.final {
			fs.final = until
		}
	}
}
