package store

import "github.com/telemesh/telemesh/protocol"

// SpanOverlaps reports whether a field whose readings run from first to
// last (inclusive, nanoseconds) overlaps [start, end). Stores use it for
// Fields' time filter, which looks at each field's first and last reading
// rather than scanning readings: a field with a gap spanning the whole of
// [start, end) still matches.
func SpanOverlaps(first, last, start, end int64) bool {
	if first == 0 && last == 0 {
		return false
	}
	return first < end && last >= start
}

// CheckFields checks every field name, as PutFields does before touching
// the store.
func CheckFields(fields []FieldMeta) error {
	for _, f := range fields {
		if err := protocol.CheckFieldName(f.Name); err != nil {
			return err
		}
	}
	return nil
}

// CheckAppend checks a batch for Append: every series passes
// Series.CheckReadings.
func CheckAppend(series []protocol.Series) error {
	for _, s := range series {
		if err := s.CheckReadings(); err != nil {
			return err
		}
	}
	return nil
}
