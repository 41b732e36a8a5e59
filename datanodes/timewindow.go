package datanodes

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// timeWindow is the rule Emit applies to a reading's time: within the
// plausible window of the node's clock (Config.Time), and outside every
// span a get_data reply has called final for its field: [start,
// finalized_until) of the reply.
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
	}
	if sp, in := fs.final.find(r.Time); in {
		if fs.finalWarned {
			return true, nil
		}
		fs.finalWarned = true
		return true, fmt.Errorf("field %s: reading at %s is inside a span a reply called final (%s to %s); such readings are refused and counted", r.Field, at(),
			time.Unix(0, sp.start).UTC().Format(time.RFC3339Nano), time.Unix(0, sp.end).UTC().Format(time.RFC3339Nano))
	}
	return false, nil
}

// markFinal records that a reply calls the data of fields in [start, end)
// (ns) final: Emit refuses readings there from now on. It returns the end
// it recorded: end, or earlier when readings Emit accepted before this
// call are still on their way to the store, since the reply's read may
// not see them.
//
// A field's refused span ends just past its latest reading, though: a
// driver may still be writing history behind the present (a backfill at
// start), and refusing it would lose it. Such readings, newer than all
// the field had, land in time the reply called final (docs/protocol.md).
// A field with no reading yet in this process gets no span.
func (n *Node) markFinal(fields []string, start, end int64) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	end = min(end, n.queued.earliest())
	for _, f := range fields {
		fs := n.fields[f]
		if fs == nil {
			continue
		}
		if fs.latest == nil {
			continue // no reading yet: a driver may be about to write history
		}
		e := end
		if fs.latest.Time < math.MaxInt64 {
			e = min(e, fs.latest.Time+1)
		}
		if e > start {
			fs.final = fs.final.add(span{start, e})
		}
	}
	return end
}

// inflight are the batches Emit accepted that the store does not hold
// yet, by id: each one's earliest reading time. Node.mu guards it.
type inflight struct {
	next    uint64
	batches map[uint64]int64
}

// add registers rs and returns its id (never 0).
func (q *inflight) add(rs []protocol.Reading) uint64 {
	t := rs[0].Time
	for _, r := range rs[1:] {
		t = min(t, r.Time)
	}
	if q.batches == nil {
		q.batches = make(map[uint64]int64)
	}
	q.next++
	q.batches[q.next] = t
	return q.next
}

// earliest is the earliest time of a queued reading, or MaxInt64. The
// queue holds at most writeQueue batches, so the scan is short.
func (q *inflight) earliest() int64 {
	t := int64(math.MaxInt64)
	for _, b := range q.batches {
		t = min(t, b)
	}
	return t
}

// unqueue forgets batch id once the store holds it (or refused it).
func (n *Node) unqueue(id uint64) {
	if id == 0 {
		return
	}
	n.mu.Lock()
	delete(n.queued.batches, id)
	n.mu.Unlock()
}

// span is a half-open time range [start, end), ns.
type span struct{ start, end int64 }

// maxSpans bounds the spans kept per field: beyond it the two nearest
// merge, which only refuses more (the gap between them).
const maxSpans = 16

// spans are disjoint, sorted, non-adjacent spans: the finalized ones of a
// field. Consumers that poll a window ending now keep them to one.
type spans []span

// find returns the span holding t, if one does.
func (ss spans) find(t int64) (span, bool) {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].end > t })
	if i < len(ss) && ss[i].start <= t {
		return ss[i], true
	}
	return span{}, false
}

// add returns ss with s merged in.
func (ss spans) add(s span) spans {
	if k := len(ss) - 1; k >= 0 && s.start >= ss[k].start && s.start <= ss[k].end {
		ss[k].end = max(ss[k].end, s.end) // the common case: the last one grows
		return ss
	}
	out := make(spans, 0, len(ss)+1)
	i := 0
	for ; i < len(ss) && ss[i].end < s.start; i++ {
		out = append(out, ss[i])
	}
	for ; i < len(ss) && ss[i].start <= s.end; i++ {
		s.start, s.end = min(s.start, ss[i].start), max(s.end, ss[i].end)
	}
	out = append(out, s)
	out = append(out, ss[i:]...)
	if len(out) > maxSpans {
		k := 0
		for j := 1; j < len(out)-1; j++ {
			if out[j+1].start-out[j].end < out[k+1].start-out[k].end {
				k = j
			}
		}
		out[k].end = out[k+1].end
		out = append(out[:k+1], out[k+2:]...)
	}
	return out
}
