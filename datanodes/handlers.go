package datanodes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
	"github.com/telemesh/telemesh/wampx"
)

// BytesPerPoint is the reply size budgeted for one value with its share of
// the time list. A float64 takes 9 bytes in msgpack and up to 24 in JSON
// (seconds with microseconds, a comma), and a time is as large again; the
// router re-encodes replies for each caller's serializer, so the budget
// assumes JSON: one day at 1 Hz (86,400 points) is then 3.4 MB, against the
// 3.4 MB measured. Overestimating only makes slices smaller.
const BytesPerPoint = 40

// getFields answers get_fields(start, end), a handler.
func (n *Node) getFields(ctx context.Context, args wamp.List, _ wamp.Dict, _ func(wamp.List) error) (wamp.List, error) {
	if len(args) != 2 {
		return nil, protocol.Errorf(protocol.InvalidArgument, "get_fields takes 2 arguments (start, end), got %d", len(args))
	}
	start, end, _, err := timeRange(args[0], args[1], n.now())
	if err != nil {
		return nil, err
	}
	metas, err := n.st.Fields(ctx, start, end)
	if err != nil {
		return nil, err
	}
	inRange := map[string]bool{}
	for _, m := range metas {
		inRange[m.Name] = true
	}
	n.mu.Lock()
	for _, m := range metas {
		if n.fields[m.Name] == nil {
			n.fields[m.Name] = &fieldState{meta: m}
		}
	}
	n.mu.Unlock()
	fields, timelines := n.fieldMaps(func(fs *fieldState) bool { return fs.declared || inRange[fs.meta.Name] })
	// sisock returned the Python tuple (field, timeline): one argument, a list.
	return wamp.List{wamp.List{fields, timelines}}, nil
}

func (n *Node) fail(err error) client.InvokeResult {
	if protocol.KindOf(err) == protocol.Internal {
		n.log.Error("request failed", "err", err)
	}
	return wampx.Fail(n.names, err)
}

// timeRange decodes a request's start and end (sisock times) into a
// half-open nanosecond range, clamped to what int64 nanoseconds hold, and
// also returns the resolved end in seconds as the caller gave it; times
// <= 0 are relative to t.
func timeRange(a, b any, t time.Time) (int64, int64, float64, error) {
	s, err := wampx.Float("start", a)
	if err != nil {
		return 0, 0, 0, err
	}
	e, err := wampx.Float("end", b)
	if err != nil {
		return 0, 0, 0, err
	}
	s, e = protocol.ResolveTime(s, t), protocol.ResolveTime(e, t)
	if e < s {
		return 0, 0, 0, protocol.Errorf(protocol.InvalidArgument, "end (%.6f) is before start (%.6f)", e, s)
	}
	return toNanos(s), toNanos(e), e, nil
}

func toNanos(s float64) int64 {
	if s <= 0 {
		return 0
	}
	return protocol.ClampNanos(s)
}

// request is a decoded get_data call.
type request struct {
	fields     []string
	start, end int64 // ns
	// endSec is end in seconds as the caller gave it (resolved): reported
	// as finalized_until when everything up to end is final, since end
	// itself is rounded to the microsecond and a caller comparing
	// finalized_until >= end must see it hold.
	endSec float64
	bucket int64 // ns, 0 = raw
	agg    string
}

// parseGetData decodes and checks get_data(field_list, start, end,
// min_stride=None) with keyword arguments min_stride, max_points and agg.
func (n *Node) parseGetData(args wamp.List, kw wamp.Dict) (request, error) {
	var q request
	if len(args) < 3 || len(args) > 4 {
		return q, protocol.Errorf(protocol.InvalidArgument, "get_data takes 3 or 4 arguments (field_list, start, end, min_stride=None), got %d", len(args))
	}
	fields, err := wampx.Strings("field_list", args[0])
	if err != nil {
		return q, err
	}
	start, end, endSec, err := timeRange(args[1], args[2], n.now())
	if err != nil {
		return q, err
	}
	for k := range kw {
		switch k {
		case "min_stride", "max_points", "agg":
		default:
			return q, protocol.Errorf(protocol.InvalidArgument, "get_data has no keyword argument %q (want min_stride, max_points, agg)", k)
		}
	}
	var strideArg any
	if len(args) == 4 {
		strideArg = args[3]
	}
	if kw, ok := kw["min_stride"]; ok && kw != nil {
		if strideArg != nil {
			return q, protocol.Errorf(protocol.InvalidArgument, "min_stride given both as 4th argument and as keyword")
		}
		strideArg = kw
	}
	var stride float64
	if strideArg != nil {
		if stride, err = wampx.Float("min_stride", strideArg); err != nil {
			return q, err
		}
		if stride < 0 {
			return q, protocol.Errorf(protocol.InvalidArgument, "min_stride must not be negative, got %v", stride)
		}
		if stride > math.MaxInt64/1e9 { // buckets are int64 nanoseconds
			return q, protocol.Errorf(protocol.InvalidArgument, "min_stride must be at most %.4g s, got %v", float64(math.MaxInt64/1e9), stride)
		}
	}
	var maxPoints int64
	if v, ok := kw["max_points"]; ok && v != nil {
		if maxPoints, err = wampx.Int("max_points", v); err != nil {
			return q, err
		}
		if maxPoints <= 0 {
			return q, protocol.Errorf(protocol.InvalidArgument, "max_points must be positive, got %d", maxPoints)
		}
	}
	q.agg = protocol.AggMean
	if v, ok := kw["agg"]; ok && v != nil {
		if q.agg, err = wampx.String("agg", v); err != nil {
			return q, err
		}
		if err := protocol.CheckAgg(q.agg); err != nil {
			return q, err
		}
	}
	if q.agg == protocol.AggMinMax && maxPoints == 1 {
		return q, protocol.Errorf(protocol.InvalidArgument, "agg minmax gives two points per bucket: max_points must be at least 2")
	}
	n.mu.Lock()
	for _, f := range fields {
		if n.fields[f] == nil {
			n.mu.Unlock()
			if !protocol.ValidFieldName(f) {
				return q, protocol.Errorf(protocol.UnknownField, "unknown field %q (not a valid field name)", f)
			}
			return q, &protocol.Error{Kind: protocol.UnknownField, Message: "unknown field " + f, Details: map[string]any{"field": f}}
		}
	}
	n.mu.Unlock()
	q.fields, q.start, q.end, q.endSec = fields, start, end, endSec
	q.bucket = downsample.Width(start, end, stride, maxPoints, q.agg)
	return q, nil
}

// getData answers get_data, a handler: it streams progressive results
// through progress when the caller accepts them (progress is not nil) and
// the answer exceeds the reply budget.
func (n *Node) getData(ctx context.Context, args wamp.List, kw wamp.Dict, progress func(wamp.List) error) (wamp.List, error) {
	q, err := n.parseGetData(args, kw)
	if err != nil {
		return nil, err
	}
	limit := max(n.cfg.MaxReplyBytes/BytesPerPoint, 1)
	if q.end == q.start || len(q.fields) == 0 {
		return wamp.List{n.result(nil, nil)}, nil
	}
	if q.bucket > 0 {
		return n.bucketed(ctx, progress, q, limit)
	}
	if sc, ok := n.st.(store.Scanner); ok && progress != nil {
		return n.stream(ctx, sc, progress, q, limit)
	}
	return n.counted(ctx, progress, q, limit)
}

// counted answers q with one query under the limit and, when the store
// reports more points than that, refuses it or, with progress, answers it
// in slices sized from the store's count (progressive).
func (n *Node) counted(ctx context.Context, progress func(wamp.List) error, q request, limit int) (wamp.List, error) {
	fin := n.finalized(q, q.start, q.end)
	series, err := n.query(ctx, q, q.start, q.end, limit)
	if err == nil {
		return wamp.List{n.result(series, fin)}, nil
	}
	if !protocol.IsKind(err, protocol.TooMuchData) {
		return nil, err
	}
	points := pointsOf(err)
	if progress == nil {
		return nil, n.tooMuchData(points, limit)
	}
	return n.progressive(ctx, progress, q, limit, points)
}

// tooMuchData is the error for an answer of points points over the
// limit.
func (n *Node) tooMuchData(points int64, limit int) error {
	return &protocol.Error{
		Kind: protocol.TooMuchData,
		Message: fmt.Sprintf("get_data result of %d points exceeds the reply limit of %d points (%d bytes); pass max_points or call with receive_progress",
			points, limit, n.cfg.MaxReplyBytes),
		Details: map[string]any{"points": points, "limit": limit, "hint": "pass max_points or call with receive_progress"},
	}
}

// maxSliceReads bounds the store reads of a bucketed answer sliced by its
// bound. Past it the bucket grid is so much finer than the reply limit
// (a min_stride far below the sampling interval, or sparse data) that most
// slices would be empty, and the answer is sliced by the store's count
// instead (counted).
const maxSliceReads = 4096

// bucketed answers a bucketed q. Its size is bounded before anything is
// read: at most downsample.PerBucket points per bucket and field, for
// every bucket meeting [q.start, q.end). An answer whose bound fits the
// limit is one store read. One over it is, without progress, one read
// too, answered or refused with its size as any answer is (counted); with
// progress it is answered in slices of whole buckets each read once
// (slices).
func (n *Node) bucketed(ctx context.Context, progress func(wamp.List) error, q request, limit int) (wamp.List, error) {
	nf := len(distinct(q.fields))
	per := downsample.PerBucket(q.agg) * int64(nf) // points a bucket yields at most, all fields
	nb := downsample.Buckets(q.start, q.end, q.bucket)
	bound := int64(math.MaxInt64) // saturated: still an upper bound
	if nb <= math.MaxInt64/per {
		bound = nb * per
	}
	if bound <= int64(limit) {
		fin := n.finalized(q, q.start, q.end)
		series, err := n.query(ctx, q, q.start, q.end, limit)
		if err != nil {
			return nil, err
		}
		return wamp.List{n.result(series, fin)}, nil
	}
	if progress == nil {
		// One read, as a sisock-era caller expects: empty buckets give
		// no points, so an answer whose bound is over the limit may fit.
		return n.counted(ctx, nil, q, limit)
	}
	k := int64(limit) / per // buckets a reply holds for sure
	if k == 0 {
		return nil, protocol.Errorf(protocol.TooMuchData,
			"one bucket of get_data yields up to %d points (%d fields), more than the reply limit of %d points; request fewer fields", per, nf, limit)
	}
	if (nb-1)/k+1 > maxSliceReads {
		return n.counted(ctx, progress, q, limit)
	}
	return n.slices(ctx, progress, q, limit, per, k)
}

// slices sends a bucketed q whose bound exceeds the limit as progressive
// results and returns the last as the result. Each store read covers
// consecutive whole buckets, from where the last one ended, as many as the
// room left in the reply holds at per points a bucket, so no reply can
// exceed limit and nothing is read twice or counted first. Reads that
// yield fewer points than their bound (empty buckets) share a reply until
// the room left is under a quarter of k, the buckets of a full reply.
func (n *Node) slices(ctx context.Context, progress func(wamp.List) error, q request, limit int, per, k int64) (wamp.List, error) {
	var pend []protocol.Series // read, not sent yet
	points := 0
	// The reply's finalized_until: the least its reads claimed, each
	// claim made before its read (see finalized).
	claim := math.Inf(1)
	fin := func(string) *float64 { v := claim; return &v }
	for cur := q.start; ; {
		room := (int64(limit) - int64(points)) / per
		if room < max(k/4, 1) {
			if err := progress(wamp.List{n.result(pend, fin)}); err != nil {
				return nil, err
			}
			pend, points, claim, room = nil, 0, math.Inf(1), k
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stop := q.end
		if downsample.Buckets(cur, q.end, q.bucket) > room {
			stop = downsample.Start(cur, q.bucket) + room*q.bucket
		}
		f := n.finalized(q, cur, stop)
		series, err := n.query(ctx, q, cur, stop, limit)
		if err != nil {
			return nil, err
		}
		claim = min(claim, *f(""))
		for _, s := range series {
			points += s.Len()
			i := slices.IndexFunc(pend, func(p protocol.Series) bool { return p.Field == s.Field })
			if i < 0 {
				// Clipped: a later read's points are appended to a copy,
				// never into the memory the store returned.
				s.Times = slices.Clip(s.Times)
				v := &s.Values
				v.Nums, v.Strs, v.Bools, v.Missing = slices.Clip(v.Nums), slices.Clip(v.Strs), slices.Clip(v.Bools), slices.Clip(v.Missing)
				pend = append(pend, s)
				continue
			}
			pend[i].Times = append(pend[i].Times, s.Times...)
			if err := pend[i].Values.Concat(s.Values); err != nil {
				return nil, fmt.Errorf("field %s: %w", s.Field, err)
			}
		}
		if stop == q.end {
			return wamp.List{n.result(pend, fin)}, nil
		}
		cur = stop
	}
}

// progressive sends consecutive slices of [q.start, q.end), each under the
// limit, as progressive results, and returns the last slice as the final
// result: the slices are sized from points, the answer's size the store
// counted, and a slice the store finds over the limit is halved and read
// again. Slice boundaries fall on bucket boundaries so no bucket is split.
func (n *Node) progressive(ctx context.Context, progress func(wamp.List) error, q request, limit int, points int64) (wamp.List, error) {
	align := max(q.bucket, 1000) // a microsecond, the wire's resolution, when raw
	span := q.end - q.start
	chunk := downsample.RoundUp(int64(float64(span)*0.8*float64(limit)/float64(max(points, 1))), align)
	cur := q.start
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stop := q.end
		if chunk < q.end-cur {
			stop = min(q.end, downsample.RoundUp(cur+chunk, align))
		}
		fin := n.finalized(q, cur, stop)
		series, err := n.query(ctx, q, cur, stop, limit)
		if protocol.IsKind(err, protocol.TooMuchData) {
			if stop-cur <= align {
				return nil, protocol.Errorf(protocol.TooMuchData,
					"one bucket of get_data holds more than %d points; request fewer fields or pass max_points", limit)
			}
			chunk = max((stop-cur)/2, align)
			continue
		}
		if err != nil {
			return nil, err
		}
		res := n.result(series, fin)
		if stop >= q.end {
			return wamp.List{res}, nil
		}
		if err := progress(wamp.List{res}); err != nil {
			return nil, err
		}
		cur = stop
	}
}

// stream answers a raw get_data with receive_progress from the store's
// iterators, read once, with no counting pass: each reply holds every
// field's readings in one time span [cur, stop), at most limit points in
// all (a share of it per field), and the last reply is the result. An
// answer that fits one reply is sent as the result alone.
func (n *Node) stream(ctx context.Context, sc store.Scanner, progress func(wamp.List) error, q request, limit int) (wamp.List, error) {
	fields := distinct(q.fields)
	share := max(limit*8/10/len(fields), 1)
	if share*len(fields) > limit {
		return nil, protocol.Errorf(protocol.TooMuchData,
			"get_data of %d fields exceeds the reply limit of %d points at one reading each; request fewer fields", len(fields), limit)
	}
	type cursor struct {
		it   store.SeriesIterator
		pend protocol.Series // read, not sent yet
		done bool
	}
	// The claim comes before the first read (see finalized); each slice
	// claims no more than its own end.
	fin := n.finalized(q, q.start, q.end)
	upTo := func(stop int64) func(string) *float64 {
		v := min(*fin(""), protocol.FromNanos(stop))
		return func(string) *float64 { return &v }
	}
	cs := make([]cursor, 0, len(fields))
	for _, f := range fields {
		it := sc.Scan(ctx, store.Query{Fields: []string{f}, Start: q.start, End: q.end}, share)
		defer it.Close()
		cs = append(cs, cursor{it: it, pend: protocol.Series{Field: f}})
	}
	for {
		// Read every field to more than its share (or its end); the
		// reply stops before the first time some field has beyond it.
		stop := q.end
		for i := range cs {
			c := &cs[i]
			for !c.done && c.pend.Len() <= share {
				if !c.it.Next() {
					if err := c.it.Err(); err != nil {
						return nil, err
					}
					c.done = true
					break
				}
				s := c.it.At()
				c.pend.Times = append(c.pend.Times, s.Times...)
				if err := c.pend.Values.Concat(s.Values); err != nil {
					return nil, fmt.Errorf("field %s: %w", c.pend.Field, err)
				}
			}
			if c.pend.Len() > share {
				stop = min(stop, c.pend.Times[share])
			}
		}
		var series []protocol.Series
		more := false
		for i := range cs {
			c := &cs[i]
			k, _ := slices.BinarySearch(c.pend.Times, stop)
			if k > 0 {
				series = append(series, protocol.Series{Field: c.pend.Field, Times: c.pend.Times[:k:k], Values: c.pend.Values.Slice(0, k)})
				c.pend = protocol.Series{Field: c.pend.Field, Times: c.pend.Times[k:], Values: c.pend.Values.Slice(k, c.pend.Len())}
			}
			more = more || !c.done || c.pend.Len() > 0
		}
		if !more {
			return wamp.List{n.result(series, fin)}, nil
		}
		if err := progress(wamp.List{n.result(series, upTo(stop))}); err != nil {
			return nil, err
		}
	}
}

func (n *Node) query(ctx context.Context, q request, start, end int64, limit int) ([]protocol.Series, error) {
	return n.st.Query(ctx, store.Query{Fields: q.fields, Start: start, End: end, Bucket: q.bucket, Agg: q.agg, Limit: limit})
}

// finalized returns finalized_until for a slice of q from start to end:
// data older than one flush interval before now will not change, since
// from this call on Emit refuses readings of q's fields in [start,
// finalized_until) (markFinal). It is called before the slice is read, so
// that no reading lands in the span between the read and the claim.
func (n *Node) finalized(q request, start, end int64) func(string) *float64 {
	f := n.now().Add(-n.cfg.Store.FlushInterval.D()).UnixNano()
	f = n.markFinal(q.fields, start, min(f, end))
	v := protocol.FromNanos(f)
	if f >= end && end == q.end && q.endSec > 0 {
		v = q.endSec
	}
	return func(string) *float64 { return &v }
}

func pointsOf(err error) int64 {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != nil {
		if p, ok := wamp.AsInt64(pe.Details["points"]); ok {
			return p
		}
	}
	return 0
}

// distinct returns fields in the order asked, once each.
func distinct(fields []string) []string {
	var out []string
	for _, f := range fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
