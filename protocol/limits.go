package protocol

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
// High - Hysteresis or below. Zero means the node's default (1% of the
// innermost range; docs/protocol.md).
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
