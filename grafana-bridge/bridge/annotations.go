package bridge

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/telemesh/telemesh/protocol"
)

// Bounds of an annotation query.
const (
	// DefaultEventLimit is the most annotations one query returns: the
	// latest ones, with a notice when there are more.
	DefaultEventLimit = 1000
	// DefaultScanLimit is the most readings one annotation query reads
	// to find limit transitions, shared by its fields with limits; a
	// field whose range holds more is scanned over its latest readings
	// only, with a notice.
	DefaultScanLimit = 1_000_000
	// scanWindow is the readings the scan aims to fetch per get_data
	// call, which bounds the memory one call's answer takes.
	scanWindow = 100_000
)

// Event is one annotation: a limit transition of a field with limits, or
// a point where a series without limits starts to hold an eventful value
// or changes it (a door opening), not every sample of a value that stays
// the same.
type Event struct {
	Target Target
	Time   int64 // nanoseconds since the UNIX epoch
	// End is the end of the region the event opens (the field's next
	// transition, or its last reading while the state lasts); 0 for a
	// point.
	End   int64
	Title string
	Text  string
	Tags  []string
}

// Notice is something an annotation answer must say besides its events:
// that events were left out, or readings not scanned. Time is where a
// face that has no notices shows it as an annotation of its own.
type Notice struct {
	Time int64
	Text string
}

// Annotations is the answer to an annotation query: events in time order
// and notices.
type Annotations struct {
	Events  []Event
	Notices []Notice
}

// NoticeTags are the tags of the annotation that carries a notice on a
// face without notices (the JSON API's /annotations).
var NoticeTags = []string{"telemesh", "notice"}

// AnnotationRequest is one annotation query as the core sees it.
type AnnotationRequest struct {
	Targets  []Target
	From, To time.Time
	// Limit bounds the events (default and cap DefaultEventLimit).
	Limit int
	// MaxPoints bounds the points read per field without limits (default
	// and cap Options.MaxPoints).
	MaxPoints int
}

// Annotations answers an annotation query. A field with limits (get_fields
// "limits") gives its limit transitions over the range, computed from its
// readings by protocol.LimitTracker as its node computes the transitions
// it publishes, starting in ok at the first reading of the range; each
// transition to warning or alarm is a region until the field's next
// transition. A field without limits gives the points where its value
// becomes non-zero, true or non-empty, or changes, at one-second
// resolution. The latest Limit events are kept.
func (c *Core) Annotations(ctx context.Context, r AnnotationRequest) (Annotations, error) {
	base := Request{From: r.From, To: r.To}
	if err := c.Validate(&base); err != nil {
		return Annotations{}, err
	}
	limit := DefaultEventLimit
	if r.Limit > 0 && r.Limit < limit {
		limit = r.Limit
	}
	maxPoints := c.opts.MaxPoints
	if r.MaxPoints > 0 && r.MaxPoints < maxPoints {
		maxPoints = r.MaxPoints
	}
	type limited struct {
		t    Target
		info protocol.FieldInfo
		tl   protocol.TimelineInfo
	}
	var plain []Target
	var withLimits []limited
	for _, t := range r.Targets {
		if t.Node == "*" {
			return Annotations{}, protocol.Errorf(protocol.InvalidArgument, "target %s: expand wildcards first", t)
		}
		mctx, cancel := context.WithTimeout(ctx, c.opts.NodeTimeout)
		m, err := c.metaFor(mctx, t.Node, []string{t.Field})
		cancel()
		if err != nil {
			return Annotations{}, err
		}
		info := m.fields[t.Field]
		if info.Limits == nil {
			plain = append(plain, t)
			continue
		}
		withLimits = append(withLimits, limited{t, info, m.timelines[info.Timeline]})
	}
	var out Annotations
	if len(plain) > 0 {
		series, err := c.Query(ctx, Request{Targets: plain, From: r.From, To: r.To, MaxPoints: maxPoints, Interval: time.Second, Agg: protocol.AggLast})
		if err != nil {
			return Annotations{}, err
		}
		out.Events = valueEvents(series)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	bound := max(c.opts.ScanLimit/max(len(withLimits), 1), 1)
	for _, l := range withLimits {
		g.Go(func() error {
			s, cut, err := c.scan(gctx, l.t, l.info, l.tl, r.From, r.To, bound)
			if err != nil {
				return err
			}
			evs := TransitionEvents(l.t, l.info, s)
			mu.Lock()
			defer mu.Unlock()
			out.Events = append(out.Events, evs...)
			if cut {
				out.Notices = append(out.Notices, Notice{Time: s.Times[0], Text: fmt.Sprintf(
					"%s: the range holds more than %d readings; its limit transitions are computed from the latest %d only, from %s (narrow the range for earlier ones)",
					l.t, bound, bound, time.Unix(0, s.Times[0]).UTC().Format(time.RFC3339Nano))})
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Annotations{}, err
	}
	sort.SliceStable(out.Events, func(i, j int) bool { return out.Events[i].Time < out.Events[j].Time })
	sort.SliceStable(out.Notices, func(i, j int) bool { return out.Notices[i].Text < out.Notices[j].Text })
	if n := len(out.Events); n > limit {
		out.Events = out.Events[n-limit:]
		out.Notices = append(out.Notices, Notice{Time: out.Events[0].Time, Text: fmt.Sprintf(
			"showing the latest %d of %d annotations (the limit); narrow the range for earlier ones", limit, n)})
	}
	return out, nil
}

// scan reads the raw readings of t in [from, to), at most bound of them:
// the latest ones, in time order. It walks back from to in windows sized
// from the timeline's interval (then from what each window held) to hold
// about scanWindow readings, so that memory stays bounded however long
// the range; cut reports that older readings were left out.
func (c *Core) scan(ctx context.Context, t Target, info protocol.FieldInfo, tl protocol.TimelineInfo, from, to time.Time, bound int) (s protocol.Series, cut bool, err error) {
	start, end := from.UnixNano(), to.UnixNano()
	want := min(bound, c.scanWindow)
	// Window widths stay within [1 s, the range], computed in floats so
	// that no product overflows.
	span := float64(end - start)
	clamp := func(w float64) int64 { return int64(min(max(w, float64(time.Second)), span)) }
	width := clamp(float64(time.Hour))
	if tl.Interval != nil && *tl.Interval > 0 {
		width = clamp(*tl.Interval * float64(want) * 1e9)
	}
	// One reading more than the bound tells a range that holds more.
	capacity := bound + 1
	var chunks []protocol.Series // latest first
	total := 0
	for end > start && total < capacity {
		lo := max(start, end-width)
		ps, err := c.rawWindow(ctx, t, info, lo, end)
		if err != nil {
			return s, false, err
		}
		n := ps.Len()
		if over := total + n - capacity; over > 0 {
			ps.Times, ps.Values = ps.Times[over:], ps.Values.Slice(over, n)
			n -= over
		}
		if n > 0 {
			chunks = append(chunks, ps)
		}
		total += n
		end = lo
		// Aim the next window at want readings, changing its width at
		// most eightfold.
		ratio := 8.0
		if n > 0 {
			ratio = min(max(float64(want)/float64(n), 1.0/8), 8)
		}
		width = clamp(float64(width) * ratio)
	}
	s = protocol.Series{Field: t.Field, Timeline: info.Timeline}
	for i := len(chunks) - 1; i >= 0; i-- {
		s.Times = append(s.Times, chunks[i].Times...)
		if err := s.Values.Concat(chunks[i].Values); err != nil {
			return s, false, fmt.Errorf("%s: %w", t, err)
		}
	}
	if total == capacity {
		s.Times, s.Values = s.Times[1:], s.Values.Slice(1, total)
		return s, true, nil
	}
	return s, false, nil
}

// rawWindow reads every reading of t in [lo, hi) (nanoseconds).
func (c *Core) rawWindow(parent context.Context, t Target, info protocol.FieldInfo, lo, hi int64) (protocol.Series, error) {
	ctx, cancel := context.WithTimeout(parent, c.opts.NodeTimeout)
	defer cancel()
	res, err := c.getData(ctx, t.Node, Query{Fields: []string{t.Field}, Start: protocol.FromNanos(lo), End: protocol.FromNanos(hi)})
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
			return protocol.Series{}, protocol.Errorf(protocol.Unavailable, "node %s did not answer within %s", t.Node, c.opts.NodeTimeout)
		}
		return protocol.Series{}, fmt.Errorf("node %s: get_data: %w", t.Node, err)
	}
	ps, _ := res.Series(t.Field, info.Timeline)
	return ps, nil
}

// TransitionEvents runs the readings of a field with limits through a
// protocol.LimitTracker, in ok at the first reading, and makes one event
// per transition: titled like "co2 entered alarm (1523 ppm > 1500)",
// tagged with node, field and the new state, and for a warning or alarm a
// region until the next transition (or the last reading while it lasts).
// Values that are missing or not numbers are skipped, as a node does.
func TransitionEvents(t Target, info protocol.FieldInfo, s protocol.Series) []Event {
	if info.Limits == nil {
		return nil
	}
	tr := protocol.NewLimitTracker(map[string]protocol.Limits{t.Field: *info.Limits})
	units := ""
	if info.Units != nil && *info.Units != "" {
		units = " " + *info.Units
	}
	var out []Event
	last := int64(0)
	for i, ns := range s.Times {
		v := s.Values.At(i)
		if v.Type != protocol.TypeNumber || v.Missing() {
			continue
		}
		last = ns
		x, ok := tr.Observe(t.Field, ns, v.Num)
		if !ok {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End < 0 {
			out[n-1].End = ns
		}
		e := Event{Target: t, Time: ns, Tags: []string{t.Node, t.Field, x.State}}
		val := formatNumber(x.Value) + units
		if protocol.LimitRank(x.State) > protocol.LimitRank(x.Previous) {
			e.Title = fmt.Sprintf("%s entered %s (%s)", t.Field, x.State, val+crossed(*info.Limits, x.State, x.Value))
		} else {
			e.Title = fmt.Sprintf("%s left %s (%s)", t.Field, x.Previous, val)
			if x.State != protocol.LimitOK {
				e.Title = fmt.Sprintf("%s left %s for %s (%s)", t.Field, x.Previous, x.State, val)
			}
		}
		e.Text = fmt.Sprintf("%s: %s → %s at %s", t, x.Previous, x.State, val)
		if x.State != protocol.LimitOK {
			e.End = -1 // open until the next transition
		}
		out = append(out, e)
	}
	if n := len(out); n > 0 && out[n-1].End < 0 {
		out[n-1].End = 0
		if last > out[n-1].Time {
			out[n-1].End = last
		}
		out[n-1].Text += fmt.Sprintf("; still %s at the last reading", out[n-1].Tags[2])
	}
	return out
}

// crossed is " > high" or " < low" for the bound of state's range that v
// is outside of.
func crossed(l protocol.Limits, state string, v float64) string {
	r := l.Warning
	if state == protocol.LimitAlarm {
		r = l.Alarm
	}
	switch {
	case r == nil:
	case r.High != nil && v > *r.High:
		return " > " + formatNumber(*r.High)
	case r.Low != nil && v < *r.Low:
		return " < " + formatNumber(*r.Low)
	}
	return ""
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// valueEvents lists the events of series without limits: where a value
// becomes eventful or changes.
func valueEvents(series []Series) []Event {
	var out []Event
	for _, se := range series {
		var prev protocol.Value
		for i, t := range se.Times {
			v := se.Values.At(i)
			if Eventful(v) && (i == 0 || !Eventful(prev) || EventText(v) != EventText(prev)) {
				out = append(out, Event{Target: se.Target, Time: t, Title: se.Target.String(), Text: EventText(v),
					Tags: []string{se.Target.Node, se.Target.Field}})
			}
			prev = v
		}
	}
	return out
}
