package protocol

import (
	"fmt"
	"math"
)

// Limit states of a field, from best to worst: its last reading is inside
// the warning range, outside it, or outside the alarm range.
const (
	LimitOK      = "ok"
	LimitWarning = "warning"
	LimitAlarm   = "alarm"
)

// Limits are a field's warning and alarm ranges, as its configuration
// declares them. A reading outside Warning is a warning, one outside
// Alarm an alarm. get_fields sends them under the optional key "limits"
// of the field's map; sisock clients ignore the key.
//
// Hysteresis is how far back inside a range a reading must come before
// the state it left is cleared, so that a value hovering at a bound does
// not flap: a field in alarm above High returns to warning only at
// High - Hysteresis or below. Zero means the default (see
// Limits.EffectiveHysteresis). LimitTracker applies the rule.
type Limits struct {
	Warning    *Range  `json:"warning,omitempty" yaml:"warning"`
	Alarm      *Range  `json:"alarm,omitempty" yaml:"alarm"`
	Hysteresis float64 `json:"hysteresis,omitempty" yaml:"hysteresis"`
}

// Range is the normal band of a limit; either bound may be absent.
type Range struct {
	Low  *float64 `json:"low,omitempty" yaml:"low"`
	High *float64 `json:"high,omitempty" yaml:"high"`
}

// LimitTransition is the payload of B.consumer.N.alarm: a field's limit
// state changed with the reading at T (float seconds since the epoch).
type LimitTransition struct {
	Field    string  `json:"field"`
	T        float64 `json:"t"`
	Value    float64 `json:"value"`
	State    string  `json:"state"`
	Previous string  `json:"previous"`
}

// Wire returns the map sent on the wire for these limits.
func (l Limits) Wire() map[string]any {
	m := map[string]any{}
	if w := l.Warning.wire(); w != nil {
		m["warning"] = w
	}
	if a := l.Alarm.wire(); a != nil {
		m["alarm"] = a
	}
	if l.Hysteresis != 0 {
		m["hysteresis"] = l.Hysteresis
	}
	return m
}

func (r *Range) wire() map[string]any {
	if r == nil || r.Low == nil && r.High == nil {
		return nil
	}
	m := map[string]any{}
	if r.Low != nil {
		m["low"] = *r.Low
	}
	if r.High != nil {
		m["high"] = *r.High
	}
	return m
}

// DecodeLimits decodes the "limits" key of a field map entry; nil or a
// value that is not a map gives nil, so a malformed key never hides the
// field.
func DecodeLimits(v any) *Limits {
	var m map[string]any
	if v == nil || roundTrip(v, &m) != nil || m == nil {
		return nil
	}
	l := &Limits{Warning: decodeRange(m["warning"]), Alarm: decodeRange(m["alarm"])}
	if h, ok := number(m["hysteresis"]); ok {
		l.Hysteresis = h
	}
	if l.Warning == nil && l.Alarm == nil {
		return nil
	}
	return l
}

func decodeRange(v any) *Range {
	var m map[string]any
	if roundTrip(v, &m) != nil || m == nil {
		return nil
	}
	r := &Range{}
	if f, ok := number(m["low"]); ok {
		r.Low = &f
	}
	if f, ok := number(m["high"]); ok {
		r.High = &f
	}
	if r.Low == nil && r.High == nil {
		return nil
	}
	return r
}

func number(v any) (float64, bool) {
	var f float64
	if v == nil || roundTrip(v, &f) != nil {
		return 0, false
	}
	return f, true
}

// Check reports limits that cannot work: no range, a low bound above its
// high one, non-finite bounds, an alarm range inside the warning range,
// or a negative hysteresis.
func (l Limits) Check() error {
	empty := func(r *Range) bool { return r == nil || r.Low == nil && r.High == nil }
	if empty(l.Warning) && empty(l.Alarm) {
		return fmt.Errorf("give a warning or an alarm range (low, high or both)")
	}
	for _, r := range []struct {
		name string
		r    *Range
	}{{"warning", l.Warning}, {"alarm", l.Alarm}} {
		if r.r == nil {
			continue
		}
		for _, b := range []*float64{r.r.Low, r.r.High} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return fmt.Errorf("%s bound %v is not finite", r.name, *b)
			}
		}
		if r.r.Low != nil && r.r.High != nil && *r.r.Low >= *r.r.High {
			return fmt.Errorf("%s low %v is not below high %v", r.name, *r.r.Low, *r.r.High)
		}
	}
	if w, a := l.Warning, l.Alarm; w != nil && a != nil {
		if w.Low != nil && a.Low != nil && *a.Low > *w.Low || w.High != nil && a.High != nil && *a.High < *w.High {
			return fmt.Errorf("the alarm range must contain the warning range")
		}
	}
	if l.Hysteresis < 0 || math.IsNaN(l.Hysteresis) || math.IsInf(l.Hysteresis, 0) {
		return fmt.Errorf("hysteresis %v must be a number not below 0", l.Hysteresis)
	}
	return nil
}

// EffectiveHysteresis is l's hysteresis, or the default when it sets
// none: 1% of the width of the innermost range with both bounds (the
// warning range when it has any bound, else the alarm range), else 1% of
// the magnitude of that range's one bound (at least 1e-9).
func (l Limits) EffectiveHysteresis() float64 {
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

// StateOf is the limit state of a value v with every range of l narrowed
// by h on each bounded side: alarm when v is below Alarm.Low+h or above
// Alarm.High-h, else warning likewise for Warning, else ok. StateOf(v, 0)
// is the plain state of v.
func (l Limits) StateOf(v, h float64) string {
	outside := func(r *Range) bool {
		return r != nil && (r.Low != nil && v < *r.Low+h || r.High != nil && v > *r.High-h)
	}
	switch {
	case outside(l.Alarm):
		return LimitAlarm
	case outside(l.Warning):
		return LimitWarning
	}
	return LimitOK
}

// Next is the state after a reading v in state cur. A worse state is
// entered as soon as v crosses its bound (Next is StateOf(v, 0) when that
// is not better than cur); a better one only once v is back inside by
// the hysteresis h = EffectiveHysteresis (then Next is StateOf(v, h) when
// that is better than cur); otherwise the state stays cur. So a value
// jittering at a bound makes one transition, not one per reading.
func (l Limits) Next(cur string, v float64) string {
	raw := l.StateOf(v, 0)
	if LimitRank(raw) >= LimitRank(cur) {
		return raw
	}
	if back := l.StateOf(v, l.EffectiveHysteresis()); LimitRank(back) < LimitRank(cur) {
		return back
	}
	return cur
}

// LimitRank orders the limit states: ok 0, warning 1, alarm 2 (an
// unknown state ranks as ok).
func LimitRank(state string) int {
	switch state {
	case LimitWarning:
		return 1
	case LimitAlarm:
		return 2
	}
	return 0
}

// LimitTracker follows the limit states of fields through their readings
// and reports each transition: the one rule by which a data node
// publishes on B.consumer.N.alarm and consumers (the Grafana bridge)
// recompute transitions from stored readings. Every field starts in ok.
// Readings must be observed in time order per field. A LimitTracker is
// not safe for concurrent use; its zero value has no limits.
type LimitTracker struct {
	limits map[string]Limits
	state  map[string]string
}

// NewLimitTracker returns a tracker of the fields of limits (field name
// to its limits); SetLimits changes them later.
func NewLimitTracker(limits map[string]Limits) *LimitTracker {
	t := &LimitTracker{}
	for f, l := range limits {
		t.SetLimits(f, &l)
	}
	return t
}

// SetLimits sets the limits of field; nil removes them and forgets the
// field's state. A field whose limits change keeps its state: the next
// reading moves it by the new limits.
func (t *LimitTracker) SetLimits(field string, l *Limits) {
	if l == nil {
		delete(t.limits, field)
		delete(t.state, field)
		return
	}
	if t.limits == nil {
		t.limits, t.state = map[string]Limits{}, map[string]string{}
	}
	t.limits[field] = *l
}

// Tracks reports whether field has limits.
func (t *LimitTracker) Tracks(field string) bool {
	_, ok := t.limits[field]
	return ok
}

// State is the current limit state of field (ok before any reading or
// for a field without limits).
func (t *LimitTracker) State(field string) string {
	if s, ok := t.state[field]; ok {
		return s
	}
	return LimitOK
}

// Observe moves field by its reading v at ns (nanoseconds since the
// epoch) and returns the transition it causes, if any. A field without
// limits, or a value that is NaN or infinite, causes none and leaves the
// state as it was.
func (t *LimitTracker) Observe(field string, ns int64, v float64) (LimitTransition, bool) {
	l, ok := t.limits[field]
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return LimitTransition{}, false
	}
	cur := t.State(field)
	next := l.Next(cur, v)
	t.state[field] = next
	if next == cur {
		return LimitTransition{}, false
	}
	return LimitTransition{Field: field, T: FromNanos(ns), Value: v, State: next, Previous: cur}, true
}

// Wire returns the map published on B.consumer.N.alarm.
func (tr LimitTransition) Wire() map[string]any {
	return map[string]any{"field": tr.Field, "t": tr.T, "value": tr.Value, "state": tr.State, "previous": tr.Previous}
}

// DecodeLimitTransition decodes an event of B.consumer.N.alarm.
func DecodeLimitTransition(v any) (LimitTransition, error) {
	var tr LimitTransition
	if err := roundTrip(v, &tr); err != nil {
		return tr, fmt.Errorf("alarm event: %w", err)
	}
	if tr.Field == "" || tr.State == "" {
		return tr, fmt.Errorf("alarm event %v: field and state are required", v)
	}
	return tr, nil
}
