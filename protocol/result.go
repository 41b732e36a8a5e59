package protocol

import (
	"encoding/json"
	"math"
	"sort"
)

// EncodeResult builds a get_data result or a live batch from series, the
// one encoder of that shape: the fields of one timeline (Series.Timeline,
// or the field's own name when empty) share one t list in seconds, the
// union of their times, with null where a field has no value. A time
// repeated within a series (minmax buckets) is kept as often as the series
// that repeats it most. finalized gives finalized_until per timeline (nil:
// null). Series without points are left out.
func EncodeResult(series []Series, finalized func(timeline string) *float64) map[string]any {
	groups := map[string][]Series{}
	var order []string
	for _, s := range series {
		if len(s.Times) == 0 {
			continue
		}
		tl := s.Timeline
		if tl == "" {
			tl = s.Field
		}
		if _, ok := groups[tl]; !ok {
			order = append(order, tl)
		}
		groups[tl] = append(groups[tl], s)
	}
	data := map[string]any{}
	timeline := map[string]any{}
	for _, tl := range order {
		ts, vals := Merge(groups[tl])
		secs := make([]float64, len(ts))
		for i, t := range ts {
			secs[i] = FromNanos(t)
		}
		for i, s := range groups[tl] {
			data[s.Field] = vals[i].Wire()
		}
		var fin any
		if finalized != nil {
			if f := finalized(tl); f != nil {
				fin = *f
			}
		}
		timeline[tl] = map[string]any{"t": secs, "finalized_until": fin}
	}
	return map[string]any{"data": data, "timeline": timeline}
}

// Merge aligns series on the union of their times, as EncodeResult puts
// the fields of one timeline on the wire: it returns the times and each
// series' values on them, missing where a series has no value.
func Merge(ss []Series) ([]int64, []Values) {
	if len(ss) == 1 {
		return ss[0].Times, []Values{ss[0].Values}
	}
	pos := make([]int, len(ss))
	vals := make([]Values, len(ss))
	for i, s := range ss {
		vals[i].Type = s.Values.Type
	}
	var ts []int64
	for {
		// The next time is the smallest unconsumed one.
		next, found := int64(math.MaxInt64), false
		for i, s := range ss {
			if pos[i] < len(s.Times) && s.Times[pos[i]] <= next {
				next, found = s.Times[pos[i]], true
			}
		}
		if !found {
			break
		}
		k := 0
		for i, s := range ss {
			c := 0
			for pos[i]+c < len(s.Times) && s.Times[pos[i]+c] == next {
				c++
			}
			k = max(k, c)
		}
		for range k {
			ts = append(ts, next)
		}
		for i, s := range ss {
			c := 0
			for pos[i] < len(s.Times) && s.Times[pos[i]] == next && c < k {
				_ = vals[i].Append(s.Values.At(pos[i])) // same type as s.Values
				pos[i]++
				c++
			}
			for ; c < k; c++ {
				vals[i].appendMissing()
			}
		}
	}
	return ts, vals
}

// Append appends the later slice part of a progressive result to r:
// values and times are concatenated per field and timeline, and
// finalized_until follows the latest slice that sets it. r may share
// memory with part afterwards (the first slice is not copied).
func (r *DataResult) Append(part *DataResult) error {
	if r.Data == nil {
		r.Data = map[string]Values{}
	}
	if r.Timeline == nil {
		r.Timeline = map[string]TimelineData{}
	}
	for f, vs := range part.Data {
		cur := r.Data[f]
		if err := cur.Concat(vs); err != nil {
			return Errorf(InvalidArgument, "field %s: %v", f, err)
		}
		r.Data[f] = cur
	}
	for name, tl := range part.Timeline {
		cur := r.Timeline[name]
		if cur.T == nil {
			cur.T = tl.T
		} else {
			cur.T = append(cur.T, tl.T...)
		}
		if tl.FinalizedUntil != nil {
			cur.FinalizedUntil = tl.FinalizedUntil
		}
		r.Timeline[name] = cur
	}
	return nil
}

// Series joins a field of r to its timeline, the one rule every consumer
// uses: the timeline named timeline (the field's, from get_fields) when r
// has it with as many times as the field has values, else the only
// timeline of r of that length. ok is false when the field has no values
// or no timeline (or more than one of that length) fits. The returned
// Series names the timeline used: one other than asked for means the
// caller's metadata is stale.
func (r *DataResult) Series(field, timeline string) (s Series, ok bool) {
	vals, found := r.Data[field]
	s.Field = field
	n := vals.Len()
	if !found || n == 0 {
		return s, false
	}
	tl, have := r.Timeline[timeline]
	if !have || len(tl.T) != n {
		count := 0
		for name, t := range r.Timeline {
			if len(t.T) == n {
				timeline, tl = name, t
				count++
			}
		}
		if count != 1 {
			return s, false
		}
	}
	s.Timeline, s.Values = timeline, vals
	s.Times = make([]int64, n)
	for i, t := range tl.T {
		// A time past what int64 nanoseconds hold (from a node that is
		// not telemesh) sorts at the end rather than wrapping.
		s.Times[i] = ClampNanos(t)
	}
	return s, true
}

// AllSeries joins every field of r (Series with timelineOf(field), which
// may be nil when nothing is known), sorted by field name; fields that
// cannot be joined are left out.
func (r *DataResult) AllSeries(timelineOf func(field string) string) []Series {
	names := make([]string, 0, len(r.Data))
	for f := range r.Data {
		names = append(names, f)
	}
	sort.Strings(names)
	out := make([]Series, 0, len(names))
	for _, f := range names {
		tl := ""
		if timelineOf != nil {
			tl = timelineOf(f)
		}
		if s, ok := r.Series(f, tl); ok {
			out = append(out, s)
		}
	}
	return out
}

// MarshalJSON writes the column as the wire carries it: a list, with null
// for a missing value (and for an infinity, which JSON cannot hold).
func (vs Values) MarshalJSON() ([]byte, error) {
	if vs.Len() == 0 {
		return []byte("[]"), nil
	}
	if vs.Type == TypeNumber {
		out := make([]any, len(vs.Nums))
		for i, x := range vs.Nums {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				out[i] = x
			}
		}
		return json.Marshal(out)
	}
	return json.Marshal(vs.Wire())
}

// UnmarshalJSON reads a list of numbers, strings or bools (nulls missing).
func (vs *Values) UnmarshalJSON(b []byte) error {
	var l []any
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	v, err := ValuesOf(l...)
	if err != nil {
		return err
	}
	*vs = v
	return nil
}
