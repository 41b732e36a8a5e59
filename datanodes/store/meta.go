package store

import (
	"sort"

	"github.com/telemesh/telemesh/protocol"
)

// Info returns the field's entry in get_fields' field map: the one
// conversion from what a store keeps to the wire's field metadata.
func (m FieldMeta) Info() protocol.FieldInfo {
	fi := protocol.FieldInfo{Timeline: m.Timeline, Type: m.Type}
	if m.Description != "" {
		fi.Description = protocol.Ptr(m.Description)
	}
	if m.Units != "" {
		fi.Units = protocol.Ptr(m.Units)
	}
	return fi
}

// Timelines groups fields into get_fields' timeline map: each timeline
// lists its fields sorted, with the interval (in seconds) of the first of
// them that has one.
func Timelines(metas []FieldMeta) map[string]protocol.TimelineInfo {
	sorted := make([]FieldMeta, len(metas))
	copy(sorted, metas)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	out := map[string]protocol.TimelineInfo{}
	for _, m := range sorted {
		ti := out[m.Timeline]
		if ti.Interval == nil && m.Interval > 0 {
			ti.Interval = protocol.Ptr(float64(m.Interval) / 1e9)
		}
		ti.Fields = append(ti.Fields, m.Name)
		out[m.Timeline] = ti
	}
	return out
}
