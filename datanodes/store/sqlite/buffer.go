package sqlite

import (
	"slices"

	"github.com/telemesh/telemesh/protocol"
)

// buffer holds appended readings until a flush commits them: one series
// per field, its readings in the order they were appended (so that of two
// at one time the later still wins), and each field's time span, which
// tells a query whether the range it asks for holds readings not in the
// database yet.
type buffer struct {
	series []protocol.Series
	spans  []span
	at     map[string]int // index of a field's series
	n      int            // readings
}

// span is the time range of a field's readings in a buffer or spill file.
type span struct {
	lo, hi int64
	n      int
}

func (sp *span) add(ts []int64) {
	if len(ts) == 0 {
		return
	}
	lo, hi := slices.Min(ts), slices.Max(ts)
	if sp.n == 0 {
		sp.lo, sp.hi = lo, hi
	} else {
		sp.lo, sp.hi = min(sp.lo, lo), max(sp.hi, hi)
	}
	sp.n += len(ts)
}

func (sp span) merge(o span) span {
	if sp.n == 0 {
		return o
	}
	if o.n == 0 {
		return sp
	}
	return span{lo: min(sp.lo, o.lo), hi: max(sp.hi, o.hi), n: sp.n + o.n}
}

// add appends a series' readings, copying them.
func (b *buffer) add(sr protocol.Series) {
	if len(sr.Times) == 0 {
		return
	}
	i, ok := b.at[sr.Field]
	if !ok {
		if b.at == nil {
			b.at = map[string]int{}
		}
		i = len(b.series)
		b.at[sr.Field] = i
		b.series = append(b.series, protocol.Series{Field: sr.Field, Times: slices.Clone(sr.Times), Values: sr.Values.Clone()})
		b.spans = append(b.spans, span{})
	} else {
		cur := &b.series[i]
		cur.Times = append(cur.Times, sr.Times...)
		// One type per field: Append checked it.
		_ = cur.Values.Concat(sr.Values.Clone())
	}
	b.spans[i].add(sr.Times)
	b.n += len(sr.Times)
}

// addAll appends every series of o after b's own readings.
func (b *buffer) addAll(o *buffer) {
	if o == nil {
		return
	}
	for _, sr := range o.series {
		b.add(sr)
	}
}

// take returns the buffer's readings and empties it.
func (b *buffer) take() *buffer {
	out := &buffer{}
	*out, *b = *b, buffer{}
	return out
}

// span returns the time span of a field's readings.
func (b *buffer) span(field string) span {
	if b == nil {
		return span{}
	}
	if i, ok := b.at[field]; ok {
		return b.spans[i]
	}
	return span{}
}

// fieldSpans returns the span of every field in the buffer.
func (b *buffer) fieldSpans() map[string]span {
	out := make(map[string]span, len(b.series))
	for i, sr := range b.series {
		out[sr.Field] = b.spans[i]
	}
	return out
}
