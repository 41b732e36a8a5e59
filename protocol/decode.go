package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// DecodeFieldMap decodes the field map of a get_fields result (or of the
// fields keyword of data_node.add) as it arrives from any WAMP serializer.
// A missing type defaults to number.
func DecodeFieldMap(v any) (map[string]FieldInfo, error) {
	out := map[string]FieldInfo{}
	if v == nil {
		return out, nil
	}
	var raw map[string]struct {
		Description any    `json:"description"`
		Timeline    string `json:"timeline"`
		Type        string `json:"type"`
		Units       any    `json:"units"`
	}
	if err := roundTrip(v, &raw); err != nil {
		return nil, Errorf(InvalidArgument, "field map: %v", err)
	}
	for name, f := range raw {
		fi := FieldInfo{Timeline: f.Timeline, Type: f.Type}
		if fi.Type == "" {
			fi.Type = TypeNumber
		}
		if s, ok := f.Description.(string); ok {
			fi.Description = &s
		}
		if s, ok := f.Units.(string); ok {
			fi.Units = &s
		}
		out[name] = fi
	}
	return out, nil
}

// DecodeTimelineMap decodes the timeline map of a get_fields result. The
// field list is read from "field" (sisock) or "fields" (so3g), and a lone
// string, as some sisock nodes sent, becomes a one-element list.
func DecodeTimelineMap(v any) (map[string]TimelineInfo, error) {
	out := map[string]TimelineInfo{}
	if v == nil {
		return out, nil
	}
	var raw map[string]struct {
		Interval *float64 `json:"interval"`
		Field    any      `json:"field"`
		Fields   any      `json:"fields"`
	}
	if err := roundTrip(v, &raw); err != nil {
		return nil, Errorf(InvalidArgument, "timeline map: %v", err)
	}
	for name, t := range raw {
		fs := stringList(t.Fields)
		if fs == nil {
			fs = stringList(t.Field)
		}
		if fs == nil {
			fs = []string{}
		}
		out[name] = TimelineInfo{Interval: t.Interval, Fields: fs}
	}
	return out, nil
}

// DecodeDataResult decodes a get_data result or a live batch, the one
// decoder of that shape. It walks the value directly rather than through
// JSON, so NaN survives (as a missing number); numbers become float64
// columns, strings and bools their own. A field mixing types is an
// InvalidArgument error.
func DecodeDataResult(v any) (*DataResult, error) {
	switch r := v.(type) {
	case *DataResult:
		return r, nil
	case DataResult:
		return &r, nil
	}
	r := &DataResult{Data: map[string]Values{}, Timeline: map[string]TimelineData{}}
	if v == nil {
		return r, nil
	}
	top, ok := asMap(v)
	if !ok {
		return nil, Errorf(InvalidArgument, "get_data result must be a map, got %T", v)
	}
	if d, ok := top["data"]; ok && d != nil {
		dm, ok := asMap(d)
		if !ok {
			return nil, Errorf(InvalidArgument, "get_data result: data must be a map, got %T", d)
		}
		for f, vals := range dm {
			col, err := decodeColumn(vals)
			if err != nil {
				return nil, Errorf(InvalidArgument, "get_data result: data[%q]: %v", f, err)
			}
			r.Data[f] = col
		}
	}
	if tl, ok := top["timeline"]; ok && tl != nil {
		tm, ok := asMap(tl)
		if !ok {
			return nil, Errorf(InvalidArgument, "get_data result: timeline must be a map, got %T", tl)
		}
		for name, t := range tm {
			m, ok := asMap(t)
			if !ok {
				return nil, Errorf(InvalidArgument, "get_data result: timeline[%q] must be a map, got %T", name, t)
			}
			var td TimelineData
			if ts, ok := m["t"]; ok && ts != nil {
				if fs, ok := ts.([]float64); ok {
					td.T = slices.Clone(fs)
				} else {
					l, ok := asList(ts)
					if !ok {
						return nil, Errorf(InvalidArgument, "get_data result: timeline[%q].t must be a list, got %T", name, ts)
					}
					td.T = make([]float64, len(l))
					for i, e := range l {
						x, ok := AsNumber(e)
						if !ok {
							return nil, Errorf(InvalidArgument, "get_data result: timeline[%q].t[%d] must be a number, got %T", name, i, e)
						}
						td.T[i] = x
					}
				}
			}
			if fu, ok := AsNumber(m["finalized_until"]); ok {
				td.FinalizedUntil = &fu
			}
			r.Timeline[name] = td
		}
	}
	return r, nil
}

// decodeColumn decodes one field's value list; typed slices (an
// in-process session passes the encoder's own) are copied as they are.
func decodeColumn(v any) (Values, error) {
	switch x := v.(type) {
	case []float64:
		return Numbers(slices.Clone(x)...), nil
	case []string:
		return Strings(slices.Clone(x)...), nil
	case []bool:
		return Bools(slices.Clone(x)...), nil
	}
	l, ok := asList(v)
	if !ok {
		return Values{}, fmt.Errorf("must be a list, got %T", v)
	}
	return ValuesOf(l...)
}

func asMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	m := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m, true
}

func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	l := make([]any, rv.Len())
	for i := range l {
		l[i] = rv.Index(i).Interface()
	}
	return l, true
}

// DecodeNodeInfos decodes a list_nodes result.
func DecodeNodeInfos(v any) ([]NodeInfo, error) {
	var raw []struct {
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Session     uint64         `json:"session"`
		Joined      float64        `json:"joined"`
		LastSeen    float64        `json:"last_seen"`
		Fields      any            `json:"fields"`
		Timelines   any            `json:"timelines"`
		Meta        map[string]any `json:"meta"`
	}
	if v != nil {
		if err := roundTrip(v, &raw); err != nil {
			return nil, Errorf(InvalidArgument, "node list: %v", err)
		}
	}
	out := make([]NodeInfo, 0, len(raw))
	for _, r := range raw {
		fs, err := DecodeFieldMap(r.Fields)
		if err != nil {
			return nil, err
		}
		ts, err := DecodeTimelineMap(r.Timelines)
		if err != nil {
			return nil, err
		}
		out = append(out, NodeInfo{Name: r.Name, Description: r.Description, Session: r.Session,
			Joined: r.Joined, LastSeen: r.LastSeen, Fields: fs, Timelines: ts, Meta: r.Meta})
	}
	return out, nil
}

// DecodeNodeSummaries decodes a get_data_node result.
func DecodeNodeSummaries(v any) ([]NodeSummary, error) {
	var out []NodeSummary
	if v != nil {
		if err := roundTrip(v, &out); err != nil {
			return nil, Errorf(InvalidArgument, "node list: %v", err)
		}
	}
	return out, nil
}

// DecodeNodeSummary decodes the payload of a data_node_added or
// data_node_subtracted event.
func DecodeNodeSummary(v any) (NodeSummary, error) {
	var s NodeSummary
	if err := roundTrip(v, &s); err != nil {
		return s, Errorf(InvalidArgument, "node event: %v", err)
	}
	return s, nil
}

// roundTrip converts loosely typed WAMP values into a typed structure.
func roundTrip(v, into any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return json.Unmarshal(b, into)
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
