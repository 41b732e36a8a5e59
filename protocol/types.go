package protocol

// Field value types.
const (
	TypeNumber = "number"
	TypeString = "string"
	TypeBool   = "bool"
)

// Aggregations that get_data accepts in its agg keyword.
const (
	AggMean   = "mean"
	AggMin    = "min"
	AggMax    = "max"
	AggLast   = "last"
	AggMinMax = "minmax"
)

// Aggs lists the aggregations, the default (mean) first.
var Aggs = []string{AggMean, AggMin, AggMax, AggLast, AggMinMax}

// ValidAgg reports whether a is an aggregation get_data accepts.
func ValidAgg(a string) bool {
	switch a {
	case AggMean, AggMin, AggMax, AggLast, AggMinMax:
		return true
	}
	return false
}

// CheckAgg returns an InvalidArgument error unless a is one of Aggs. Every
// place that takes an aggregation name checks it here, so all say the same.
func CheckAgg(a string) error {
	if ValidAgg(a) {
		return nil
	}
	return Errorf(InvalidArgument, "unknown aggregation %q (want mean, min, max, last or minmax)", a)
}

// FieldInfo describes one field, as a value of get_fields' field map.
type FieldInfo struct {
	Description *string `json:"description" yaml:"description"`
	Timeline    string  `json:"timeline" yaml:"timeline"`
	Type        string  `json:"type" yaml:"type"`
	Units       *string `json:"units" yaml:"units"`
}

// TimelineInfo describes one timeline, as a value of get_fields' timeline
// map. On the wire Fields is sent under both "field" (sisock) and "fields"
// (so3g), always as a list.
type TimelineInfo struct {
	Interval *float64 `json:"interval"`
	Fields   []string `json:"fields"`
}

// Wire returns the map sent on the wire for this timeline.
func (t TimelineInfo) Wire() map[string]any {
	fs := t.Fields
	if fs == nil {
		fs = []string{}
	}
	var iv any
	if t.Interval != nil {
		iv = *t.Interval
	}
	return map[string]any{"interval": iv, "field": fs, "fields": fs}
}

// Wire returns the map sent on the wire for this field.
func (f FieldInfo) Wire() map[string]any {
	var d, u any
	if f.Description != nil {
		d = *f.Description
	}
	if f.Units != nil {
		u = *f.Units
	}
	typ := f.Type
	if typ == "" {
		typ = TypeNumber
	}
	return map[string]any{"description": d, "timeline": f.Timeline, "type": typ, "units": u}
}

// TimelineData is one timeline of a get_data result, as on the wire.
type TimelineData struct {
	T              []float64 `json:"t"` // seconds since the UNIX epoch
	FinalizedUntil *float64  `json:"finalized_until"`
}

// DataResult is a decoded get_data result or live batch on
// B.consumer.N.data: each field's values align one to one with the T list
// of its timeline, which the result does not name (see Series). It
// marshals to JSON as the wire shape.
type DataResult struct {
	Data     map[string]Values       `json:"data"`
	Timeline map[string]TimelineData `json:"timeline"`
}

// NodeSummary is one entry of get_data_node's result and the payload of the
// data_node_added and data_node_subtracted events.
type NodeSummary struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Wire returns the map sent on the wire for this summary.
func (s NodeSummary) Wire() map[string]any {
	return map[string]any{"name": s.Name, "description": s.Description}
}

// NodeInfo is one entry of list_nodes' result.
type NodeInfo struct {
	Name        string                  `json:"name"`
	Description string                  `json:"description"`
	Session     uint64                  `json:"session"`
	Joined      float64                 `json:"joined"`
	LastSeen    float64                 `json:"last_seen"`
	Fields      map[string]FieldInfo    `json:"fields"`
	Timelines   map[string]TimelineInfo `json:"timelines"`
	Meta        map[string]any          `json:"meta"`
}

// Summary returns the node's name and description.
func (n NodeInfo) Summary() NodeSummary { return NodeSummary{Name: n.Name, Description: n.Description} }

// Wire returns the map sent on the wire for this entry of list_nodes, the
// shape DecodeNodeInfos reads.
func (n NodeInfo) Wire() map[string]any {
	fields := make(map[string]any, len(n.Fields))
	for k, f := range n.Fields {
		fields[k] = f.Wire()
	}
	tls := make(map[string]any, len(n.Timelines))
	for k, t := range n.Timelines {
		tls[k] = t.Wire()
	}
	meta := make(map[string]any, len(n.Meta))
	for k, v := range n.Meta {
		meta[k] = v
	}
	return map[string]any{
		"name": n.Name, "description": n.Description, "session": n.Session,
		"joined": n.Joined, "last_seen": n.LastSeen,
		"fields": fields, "timelines": tls, "meta": meta,
	}
}

// Ptr returns a pointer to v, for the optional members of FieldInfo and
// TimelineInfo.
func Ptr[T any](v T) *T { return &v }

// TypeOf returns the field type of a normalized value: bool, string, or
// number for anything else.
func TypeOf(v any) string {
	switch v.(type) {
	case bool:
		return TypeBool
	case string:
		return TypeString
	}
	return TypeNumber
}
