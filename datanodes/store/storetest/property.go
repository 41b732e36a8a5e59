package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// History is a random history of appends and what the store must hold
// after them.
type History struct {
	// Batches are appended in order; Flush marks the batches after which
	// to flush.
	Batches [][]protocol.Reading
	Flush   []bool
	// Final is, per field, the readings that must remain: the last one
	// appended at each time, in time order.
	Final map[string][]protocol.Reading
	// Start and End bound every reading.
	Start, End int64
}

// RandomHistory makes three days of readings of a number field "n" at
// varying rates with gaps, a string field "s" and a bool field "b",
// appended in batches that arrive out of order, repeat times (the later
// value wins) and rewrite old readings after they were flushed.
func RandomHistory(r *rand.Rand) History {
	h := History{Start: T0, End: T0 + 3*86400e9, Final: map[string][]protocol.Reading{}}
	var all []protocol.Reading
	t := h.Start + r.Int64N(int64(time.Hour))
	for t < h.End {
		switch r.IntN(40) {
		case 0: // a gap of up to a day
			t += r.Int64N(int64(24 * time.Hour))
			continue
		case 1:
			all = append(all, protocol.Reading{Field: "s", Time: t, Value: fmt.Sprint("state-", r.IntN(3))})
		case 2:
			all = append(all, protocol.Reading{Field: "b", Time: t, Value: r.IntN(2) == 0})
		}
		all = append(all, protocol.Reading{Field: "n", Time: t, Value: float64(r.IntN(20000)-10000) / 1000})
		t += 1 + r.Int64N(int64(20*time.Second))
	}
	// Batches in time order mostly, some shuffled, some re-sent with new
	// values (replacing), some readings late by hours.
	for len(all) > 0 {
		k := min(len(all), 1+r.IntN(3000))
		b := slices.Clone(all[:k])
		all = all[k:]
		switch r.IntN(6) {
		case 0:
			r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		case 1: // duplicates within the batch: the later wins
			for range 1 + r.IntN(20) {
				x := b[r.IntN(len(b))]
				if v, ok := x.Value.(float64); ok {
					x.Value = v + 1
				}
				b = append(b, x)
			}
		case 2: // late: hold back some readings for a later batch
			if len(all) > 0 {
				n := r.IntN(len(b))
				all = append(all[:min(len(all), 1+r.IntN(5000))], append(b[n:], all[min(len(all), 1+r.IntN(5000)):]...)...)
				b = b[:n]
			}
		}
		if len(b) > 0 {
			h.Batches = append(h.Batches, b)
			h.Flush = append(h.Flush, r.IntN(3) == 0)
		}
	}
	// Replace some flushed readings long after.
	var redo []protocol.Reading
	for range 50 {
		b := h.Batches[r.IntN(len(h.Batches))]
		x := b[r.IntN(len(b))]
		if _, ok := x.Value.(float64); ok {
			x.Value = float64(r.IntN(1000)) + 0.5
		}
		redo = append(redo, x)
	}
	h.Batches = append(h.Batches, redo)
	h.Flush = append(h.Flush, true)
	last := map[string]map[int64]protocol.Reading{}
	for _, b := range h.Batches {
		for _, x := range b {
			if last[x.Field] == nil {
				last[x.Field] = map[int64]protocol.Reading{}
			}
			last[x.Field][x.Time] = x
		}
	}
	for f, m := range last {
		var rs []protocol.Reading
		for _, x := range m {
			rs = append(rs, x)
		}
		slices.SortFunc(rs, func(a, b protocol.Reading) int { return cmp.Compare(a.Time, b.Time) })
		h.Final[f] = rs
	}
	return h
}

// Apply appends the history to s.
func (h History) Apply(t testing.TB, s store.Store) {
	t.Helper()
	for i, b := range h.Batches {
		mustAppend(t, s, b...)
		if h.Flush[i] {
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// queryWidths are bucket widths of every tier a store may keep, their
// multiples, and widths that fit none.
var queryWidths = []time.Duration{
	time.Second, 10 * time.Second, 20 * time.Second, time.Minute, 2 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 24 * time.Hour, 48 * time.Hour,
	7 * time.Second, 37 * time.Second, 86486 * time.Millisecond, 605405 * time.Microsecond * 1000, 2594595 * time.Millisecond,
}

// CheckRandomQueries runs n random queries within [from, to) on s and
// compares each with the aggregation, by the definition, of want.
func CheckRandomQueries(t *testing.T, s store.Store, r *rand.Rand, want map[string][]protocol.Reading, from, to int64, n int) {
	t.Helper()
	aggs := []string{protocol.AggMean, protocol.AggMin, protocol.AggMax, protocol.AggLast, protocol.AggMinMax}
	for range n {
		a := from + r.Int64N(to-from)
		b := a + r.Int64N(to-a) + 1
		if r.IntN(4) == 0 { // whole-second, tier-aligned ends
			a, b = a/int64(time.Minute)*int64(time.Minute), b/int64(time.Hour)*int64(time.Hour)+int64(time.Hour)
			a, b = max(a, from), min(b, to)
		}
		w := int64(queryWidths[r.IntN(len(queryWidths))])
		if r.IntN(8) == 0 {
			w = 0
		}
		agg := aggs[r.IntN(len(aggs))]
		fields := []string{"n", "s", "b"}
		r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		q := store.Query{Fields: fields, Start: a, End: b, Bucket: w, Agg: agg}
		var ref []protocol.Series
		for _, f := range fields {
			if sr := reference(f, want[f], a, b, w, agg); sr.Len() > 0 {
				ref = append(ref, sr)
			}
		}
		got, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("Query(%+v): %v", q, err)
		}
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) { Equal(t, ref, got) })
		if t.Failed() {
			t.Fatalf("query [%d s, %d s) width %v %s", (a-T0)/1e9, (b-T0)/1e9, time.Duration(w), agg)
		}
	}
}

// testProperty: on a random history with out-of-order, duplicate and
// rewritten readings, gaps and empty buckets, every query at any width
// equals the definition applied to the readings that remain.
func testProperty(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(11, 12))
	h := RandomHistory(r)
	h.Apply(t, s)
	CheckRandomQueries(t, s, r, h.Final, h.Start-int64(time.Hour), h.End+int64(time.Hour), 150)
}

// testScan: a store that streams (store.Scanner) gives, slice by slice,
// exactly what Query gives, in slices no larger than asked.
func testScan(t *testing.T, s store.Store) {
	sc, ok := s.(store.Scanner)
	if !ok {
		t.Skip("the store does not implement store.Scanner")
	}
	r := rand.New(rand.NewPCG(13, 14))
	h := RandomHistory(r)
	h.Apply(t, s)
	for _, slice := range []int{1, 7, 1000, 1 << 20} {
		a := h.Start + r.Int64N(h.End-h.Start)
		q := store.Query{Fields: []string{"s", "n", "missing", "b"}, Start: a, End: a + r.Int64N(h.End-a) + 1}
		want := query(t, s, q)
		it := sc.Scan(context.Background(), q, slice)
		var got []protocol.Series
		for it.Next() {
			sr := it.At()
			if sr.Len() == 0 || sr.Len() > slice {
				t.Fatalf("slice of %d points, want 1 to %d", sr.Len(), slice)
			}
			if n := len(got); n > 0 && got[n-1].Field == sr.Field {
				got[n-1].Times = append(got[n-1].Times, sr.Times...)
				if err := got[n-1].Values.Concat(sr.Values); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got = append(got, sr)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
		Equal(t, want, got)
	}
}
