// Package downsample is the one definition of get_data's downsampling:
// the bucket width a request gets (Width) and how the readings of a bucket
// aggregate (Cell, Bucketer, Apply). Stores feed it raw readings or
// pre-aggregated cells (rollup rows), so every store computes buckets with
// the same code and a rollup path gives the same answer as a raw scan; the
// Grafana bridge uses it for nodes that do not downsample themselves, and
// docs/protocol.md states the same rules (a test checks its examples).
package downsample

import (
	"fmt"
	"slices"
	"sort"

	"github.com/telemesh/telemesh/protocol"
)

// Cell summarises the readings of one bucket. Its merge is order
// independent: ties on min and max go to the earlier reading, last goes to
// the latest time, so a cell built from rollup rows equals one built from
// the raw readings they summarise.
type Cell struct {
	Count      int64
	Nums       int64   // how many values are numbers
	Sum        float64 // of number values
	Min, Max   float64 // of number values, when Nums > 0
	MinT, MaxT int64
	First      int64 // time of the earliest reading
	Last       protocol.Value
	LastT      int64
	NonNum     bool // some value is not a number: the cell aggregates with last
}

// Point returns the cell of a single reading.
func Point(t int64, v protocol.Value) Cell {
	c := Cell{Count: 1, First: t, Last: v, LastT: t}
	if v.Type == protocol.TypeNumber {
		f := v.Num
		c.Nums, c.Sum, c.Min, c.Max, c.MinT, c.MaxT = 1, f, f, f, t, t
	} else {
		c.NonNum = true
	}
	return c
}

// Add folds one reading into c.
func (c *Cell) Add(t int64, v protocol.Value) { c.Merge(Point(t, v)) }

// Merge folds o into c.
func (c *Cell) Merge(o Cell) {
	if o.Count == 0 {
		return
	}
	if c.Count == 0 {
		*c = o
		return
	}
	c.Count += o.Count
	c.Sum += o.Sum
	c.NonNum = c.NonNum || o.NonNum
	if o.First < c.First {
		c.First = o.First
	}
	if o.LastT > c.LastT {
		c.Last, c.LastT = o.Last, o.LastT
	}
	if o.Nums > 0 {
		c.Nums += o.Nums
		if c.Nums == o.Nums {
			c.Min, c.MinT, c.Max, c.MaxT = o.Min, o.MinT, o.Max, o.MaxT
			return
		}
		if o.Min < c.Min || (o.Min == c.Min && o.MinT < c.MinT) {
			c.Min, c.MinT = o.Min, o.MinT
		}
		if o.Max > c.Max || (o.Max == c.Max && o.MaxT < c.MaxT) {
			c.Max, c.MaxT = o.Max, o.MaxT
		}
	}
}

// Points returns how many points the cell yields under agg.
func (c *Cell) Points(agg string) int {
	if c.Count == 0 {
		return 0
	}
	if agg == protocol.AggMinMax && !c.NonNum && c.MinT != c.MaxT {
		return 2
	}
	return 1
}

// Values returns the cell's points under agg, in time order: a cell
// holding a value that is not a number aggregates with last, whatever agg
// says; minmax gives the minimum and the maximum in the order they
// occurred, or one point when they are the same reading.
func (c *Cell) Values(agg string) []protocol.Value {
	if c.Count == 0 {
		return nil
	}
	if c.NonNum {
		return []protocol.Value{c.Last}
	}
	switch agg {
	case protocol.AggMin:
		return []protocol.Value{protocol.Num(c.Min)}
	case protocol.AggMax:
		return []protocol.Value{protocol.Num(c.Max)}
	case protocol.AggLast:
		return []protocol.Value{c.Last}
	case protocol.AggMinMax:
		switch {
		case c.MinT == c.MaxT:
			return []protocol.Value{protocol.Num(c.Min)}
		case c.MinT < c.MaxT:
			return []protocol.Value{protocol.Num(c.Min), protocol.Num(c.Max)}
		default:
			return []protocol.Value{protocol.Num(c.Max), protocol.Num(c.Min)}
		}
	default:
		return []protocol.Value{protocol.Num(c.Sum / float64(c.Count))}
	}
}

// Start returns the start of the bucket of width w holding t:
// floor(t/w)*w, also for negative t.
func Start(t, w int64) int64 {
	s := t / w * w
	if s > t {
		s -= w
	}
	return s
}

// Bucketer collects readings or cells, fed in ascending bucket order, into
// buckets of a fixed width.
type Bucketer struct {
	w      int64
	starts []int64
	cells  []Cell

	// With a limit, once the cells surely exceed it only the open (last)
	// cell is kept and closed ones are just counted.
	agg     string
	limit   int
	over    bool
	counted int
}

// New returns a Bucketer for buckets of width w > 0.
func New(w int64) *Bucketer { return &Bucketer{w: w, limit: -1} }

// Limit makes b stop keeping buckets once they yield more than n points
// under agg, and only count them: Points stays exact, and Result must not
// be used once Points exceeds n. Readings must then come in ascending
// order.
func (b *Bucketer) Limit(agg string, n int) { b.agg, b.limit = agg, n }

// Add adds a reading. Readings should come in ascending bucket order;
// others are accepted at a higher cost.
func (b *Bucketer) Add(t int64, v protocol.Value) { b.AddCell(t, Point(t, v)) }

// AddCell adds a cell whose readings all lie in the bucket holding t.
// Cells should come in ascending bucket order.
func (b *Bucketer) AddCell(t int64, c Cell) {
	if c.Count == 0 {
		return
	}
	s := Start(t, b.w)
	n := len(b.starts)
	if n == 0 || b.starts[n-1] < s {
		if b.over {
			b.counted += b.cells[0].Points(b.agg)
			b.starts[0], b.cells[0] = s, c
			return
		}
		b.starts = append(b.starts, s)
		b.cells = append(b.cells, c)
		if b.limit >= 0 && len(b.cells) > b.limit {
			// Every cell yields a point: over the limit for sure.
			b.over = true
			for i := range n {
				b.counted += b.cells[i].Points(b.agg)
			}
			b.starts, b.cells = b.starts[n:], b.cells[n:]
		}
		return
	}
	if b.starts[n-1] == s { // the bucket of the cell before, the usual case
		b.cells[n-1].Merge(c)
		return
	}
	// Out of order: stay correct, just slower.
	i := sort.Search(n, func(i int) bool { return b.starts[i] >= s })
	if b.starts[i] == s {
		b.cells[i].Merge(c)
		return
	}
	b.starts = slices.Insert(b.starts, i, s)
	b.cells = slices.Insert(b.cells, i, c)
}

// Points returns how many points Result yields under agg.
func (b *Bucketer) Points(agg string) int {
	n := b.counted
	for i := range b.cells {
		n += b.cells[i].Points(agg)
	}
	return n
}

// Result returns the aggregated points, each stamped at its bucket start.
// It fails only when the cells hold values of more than one type.
func (b *Bucketer) Result(agg string) (times []int64, values protocol.Values, err error) {
	n := b.Points(agg)
	times = make([]int64, 0, n)
	for i := range b.cells {
		for _, v := range b.cells[i].Values(agg) {
			if err := values.Append(v); err != nil {
				return nil, protocol.Values{}, err
			}
			times = append(times, b.starts[i])
		}
	}
	return times, values, nil
}

// TooMuchData returns the error a store gives when a query would return
// points points, more than limit.
func TooMuchData(points, limit int) error {
	return &protocol.Error{
		Kind:    protocol.TooMuchData,
		Message: fmt.Sprintf("query would return %d points, more than the limit of %d", points, limit),
		Details: map[string]any{"points": points, "limit": limit},
	}
}

// Apply aggregates the time-ordered points of one field into buckets of
// width w under agg.
func Apply(times []int64, values protocol.Values, w int64, agg string) ([]int64, protocol.Values, error) {
	b := New(w)
	for i, t := range times {
		b.Add(t, values.At(i))
	}
	return b.Result(agg)
}

// CheckQuery validates the parts of a query every store checks the same
// way and returns the effective aggregation: agg, or mean when empty.
func CheckQuery(bucket int64, agg string, limit int) (string, error) {
	if bucket < 0 {
		return "", protocol.Errorf(protocol.InvalidArgument, "negative bucket width %d", bucket)
	}
	if limit < 0 {
		return "", protocol.Errorf(protocol.InvalidArgument, "negative limit %d", limit)
	}
	if agg == "" {
		return protocol.AggMean, nil
	}
	return agg, protocol.CheckAgg(agg)
}
