package protocol

import "math"

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
