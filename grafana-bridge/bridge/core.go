package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// TargetSep separates the node from the field in a target string.
const TargetSep = "::"

// Target names one field of one data node.
type Target struct {
	Node  string
	Field string
}

// String returns the target as "node::field".
func (t Target) String() string { return t.Node + TargetSep + t.Field }

// ParseTarget parses "node::field". The node may be "*" (every node that has
// the field).
func ParseTarget(s string) (Target, error) {
	node, field, ok := strings.Cut(strings.TrimSpace(s), TargetSep)
	if !ok {
		return Target{}, protocol.Errorf(protocol.InvalidArgument, "target %q: want node%sfield", s, TargetSep)
	}
	if node != "*" {
		if err := protocol.CheckNodeName(node); err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
	}
	if err := protocol.CheckFieldName(field); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return Target{Node: node, Field: field}, nil
}

// Request is one panel query as the core sees it.
type Request struct {
	Targets   []Target
	From, To  time.Time
	MaxPoints int
	Interval  time.Duration
	Agg       string
}

// Series is the answer for one target: the field's typed series (empty
// when the node has no data) with the target and its field metadata.
type Series struct {
	Target Target
	Info   protocol.FieldInfo
	protocol.Series
}

// Options tune the core. Zero values take the defaults.
type Options struct {
	// NodeTimeout bounds each node call (default 10s).
	NodeTimeout time.Duration
	// MaxRange is the longest time range a query may span (default 10 years).
	MaxRange time.Duration
	// MaxPoints caps maxDataPoints (default 100000); DefaultPoints applies
	// when a query gives none (default 1000).
	MaxPoints     int
	DefaultPoints int
	// DefaultAgg is the aggregation when a query names none (default mean).
	DefaultAgg string
	// ScanLimit bounds the readings one annotation query reads to find
	// limit transitions (default DefaultScanLimit).
	ScanLimit int
}

func (o Options) withDefaults() Options {
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 10 * time.Second
	}
	if o.MaxRange <= 0 {
		o.MaxRange = 10 * 366 * 24 * time.Hour
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 100000
	}
	if o.DefaultPoints <= 0 {
		o.DefaultPoints = 1000
	}
	if o.DefaultAgg == "" {
		o.DefaultAgg = protocol.AggMean
	}
	if o.ScanLimit <= 0 {
		o.ScanLimit = DefaultScanLimit
	}
	return o
}

type nodeMeta struct {
	fields    map[string]protocol.FieldInfo
	timelines map[string]protocol.TimelineInfo
}

// Core turns panel queries into parallel get_data calls and keeps a cache of
// field metadata that it refreshes whenever a query names a field it does
// not know, so that a restarted node never yields an empty panel.
type Core struct {
	src  Source
	opts Options
	log  *slog.Logger

	// scanWindow is the readings an annotation scan aims to fetch per
	// get_data call (scanWindow; tests lower it).
	scanWindow int

	mu     sync.Mutex
	meta   map[string]nodeMeta
	legacy map[string]bool // nodes that reject max_points and agg (sisock's)
}

// NewCore returns a core reading from src.
func NewCore(src Source, o Options, logger *slog.Logger) *Core {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Core{src: src, opts: o.withDefaults(), log: logger, scanWindow: scanWindow, meta: map[string]nodeMeta{}, legacy: map[string]bool{}}
}

// Options returns the effective options.
func (c *Core) Options() Options { return c.opts }

// Source returns the source the core reads from.
func (c *Core) Source() Source { return c.src }

// NodeNames lists the data nodes, sorted.
func (c *Core) NodeNames(ctx context.Context) ([]string, error) {
	ns, err := c.src.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.Name)
		if len(n.Fields) > 0 {
			c.store(n.Name, nodeMeta{fields: n.Fields, timelines: n.Timelines})
		}
	}
	sort.Strings(out)
	return out, nil
}

// Fields returns the fields of node, fetched afresh from the node.
func (c *Core) Fields(ctx context.Context, node string) (map[string]protocol.FieldInfo, error) {
	m, err := c.refresh(ctx, node)
	if err != nil {
		return nil, err
	}
	return m.fields, nil
}

// Targets lists every node::field, sorted, asking the nodes in parallel.
func (c *Core) Targets(ctx context.Context) ([]Target, error) {
	ns, err := c.src.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var mu sync.Mutex
	var out []Target
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range ns {
		g.Go(func() error {
			fields := n.Fields
			if len(fields) == 0 { // a sisock hub's get_data_node has no fields
				m, err := c.refresh(gctx, n.Name)
				if err != nil {
					c.log.Warn("fields of node", "node", n.Name, "err", err)
					return nil
				}
				fields = m.fields
			} else {
				c.store(n.Name, nodeMeta{fields: n.Fields, timelines: n.Timelines})
			}
			mu.Lock()
			for f := range fields {
				out = append(out, Target{Node: n.Name, Field: f})
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func (c *Core) store(node string, m nodeMeta) {
	c.mu.Lock()
	c.meta[node] = m
	c.mu.Unlock()
}

func (c *Core) cached(node string) (nodeMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.meta[node]
	return m, ok
}

func (c *Core) refresh(ctx context.Context, node string) (nodeMeta, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.NodeTimeout)
	defer cancel()
	f, tl, err := c.src.Fields(ctx, node, 1, 0)
	if err != nil {
		return nodeMeta{}, fmt.Errorf("node %s: get_fields: %w", node, err)
	}
	m := nodeMeta{fields: f, timelines: tl}
	c.store(node, m)
	return m, nil
}

// latest is the latest time a query may reach: float seconds keep
// microseconds and nanoseconds fit an int64 well beyond it.
var latest = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate checks the parts of r that do not need the nodes and fills in
// defaults.
func (c *Core) Validate(r *Request) error {
	if r.From.IsZero() || r.To.IsZero() {
		return protocol.Errorf(protocol.InvalidArgument, "time range missing")
	}
	if r.From.Unix() <= 0 {
		return protocol.Errorf(protocol.InvalidArgument, "range start %s is before 1970", r.From.Format(time.RFC3339Nano))
	}
	if r.To.After(latest) {
		return protocol.Errorf(protocol.InvalidArgument, "range end %s is after %s", r.To.Format(time.RFC3339Nano), latest.Format(time.RFC3339))
	}
	if !r.To.After(r.From) {
		return protocol.Errorf(protocol.InvalidArgument, "range end %s is not after its start %s", r.To.Format(time.RFC3339Nano), r.From.Format(time.RFC3339Nano))
	}
	if span := r.To.Sub(r.From); span > c.opts.MaxRange {
		return protocol.Errorf(protocol.InvalidArgument, "range of %.0f days exceeds the limit of %.0f days",
			float64(r.To.Unix()-r.From.Unix())/86400, c.opts.MaxRange.Hours()/24)
	}
	if r.MaxPoints < 0 {
		return protocol.Errorf(protocol.InvalidArgument, "maxDataPoints %d is negative", r.MaxPoints)
	}
	if r.MaxPoints == 0 {
		r.MaxPoints = c.opts.DefaultPoints
	}
	if r.MaxPoints > c.opts.MaxPoints {
		r.MaxPoints = c.opts.MaxPoints
	}
	if r.Interval < 0 {
		return protocol.Errorf(protocol.InvalidArgument, "interval %s is negative", r.Interval)
	}
	if r.Agg == "" {
		r.Agg = c.opts.DefaultAgg
	}
	return protocol.CheckAgg(r.Agg)
}

// Expand replaces "*::field" targets by the nodes that have the field and
// drops the nodes keep rejects (nil keeps all).
func (c *Core) Expand(ctx context.Context, ts []Target, keep func(node string) bool) ([]Target, error) {
	var out []Target
	var all []Target
	for _, t := range ts {
		if t.Node != "*" {
			if keep == nil || keep(t.Node) {
				out = append(out, t)
			}
			continue
		}
		if all == nil {
			var err error
			if all, err = c.Targets(ctx); err != nil {
				return nil, err
			}
		}
		for _, a := range all {
			if a.Field == t.Field && (keep == nil || keep(a.Node)) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// Query runs r against the nodes, one get_data per node, all nodes in
// parallel, and returns one series per target in the order of r.Targets.
func (c *Core) Query(ctx context.Context, r Request) ([]Series, error) {
	if err := c.Validate(&r); err != nil {
		return nil, err
	}
	byNode := map[string][]string{}
	var order []string
	for _, t := range r.Targets {
		if t.Node == "*" {
			return nil, protocol.Errorf(protocol.InvalidArgument, "target %s: expand wildcards first", t)
		}
		if _, ok := byNode[t.Node]; !ok {
			order = append(order, t.Node)
		}
		if !contains(byNode[t.Node], t.Field) {
			byNode[t.Node] = append(byNode[t.Node], t.Field)
		}
	}
	results := make([]map[string]Series, len(order))
	g, gctx := errgroup.WithContext(ctx)
	for i, node := range order {
		g.Go(func() error {
			s, err := c.queryNode(gctx, node, byNode[node], r)
			if err != nil {
				return err
			}
			results[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	byNodeIdx := map[string]int{}
	for i, n := range order {
		byNodeIdx[n] = i
	}
	out := make([]Series, 0, len(r.Targets))
	for _, t := range r.Targets {
		out = append(out, results[byNodeIdx[t.Node]][t.Field])
	}
	return out, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// meta returns the metadata of node covering fields, refreshing it once
// when the cache lacks one of them.
func (c *Core) metaFor(ctx context.Context, node string, fields []string) (nodeMeta, error) {
	m, ok := c.cached(node)
	if ok && hasAll(m, fields) {
		return m, nil
	}
	m, err := c.refresh(ctx, node)
	if err != nil {
		return m, err
	}
	for _, f := range fields {
		if _, ok := m.fields[f]; !ok {
			return m, protocol.Errorf(protocol.UnknownField, "node %s has no field %s", node, f)
		}
	}
	return m, nil
}

func hasAll(m nodeMeta, fields []string) bool {
	for _, f := range fields {
		if _, ok := m.fields[f]; !ok {
			return false
		}
	}
	return true
}

func (c *Core) queryNode(parent context.Context, node string, fields []string, r Request) (map[string]Series, error) {
	ctx, cancel := context.WithTimeout(parent, c.opts.NodeTimeout)
	defer cancel()
	m, err := c.metaFor(ctx, node, fields)
	if err != nil {
		return nil, err
	}
	q := Query{
		Fields:    fields,
		Start:     protocol.FromTime(r.From),
		End:       protocol.FromTime(r.To),
		MinStride: downsample.RoundWidth(r.To.Sub(r.From), r.MaxPoints, r.Interval),
		MaxPoints: r.MaxPoints,
		Agg:       r.Agg,
	}
	res, err := c.getData(ctx, node, q)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
			return nil, protocol.Errorf(protocol.Unavailable, "node %s did not answer within %s", node, c.opts.NodeTimeout)
		}
		return nil, fmt.Errorf("node %s: get_data: %w", node, err)
	}
	out := make(map[string]Series, len(fields))
	stale := false
	for _, f := range fields {
		s := Series{Target: Target{Node: node, Field: f}, Info: m.fields[f], Series: protocol.Series{Field: f}}
		if res != nil {
			if ps, ok := res.Series(f, m.fields[f].Timeline); ok {
				// A field found on another timeline moved: refresh the metadata.
				stale = stale || ps.Timeline != m.fields[f].Timeline
				if ps.Len() > pointLimit(r.MaxPoints, r.Agg) {
					// A node that ignores max_points (sisock's) still
					// must not flood the panel: downsample as a node would.
					if ps, err = downsampleLike(ps, q, r.Agg); err != nil {
						return nil, fmt.Errorf("node %s: field %s: %w", node, f, err)
					}
				}
				s.Series = ps
			}
		}
		out[f] = s
	}
	if stale {
		c.mu.Lock()
		delete(c.meta, node)
		c.mu.Unlock()
	}
	return out, nil
}

// downsampleLike downsamples s as a telemesh node answers q, with the
// rules of package downsample.
func downsampleLike(s protocol.Series, q Query, agg string) (protocol.Series, error) {
	start, end := protocol.ClampNanos(q.Start), protocol.ClampNanos(q.End)
	w := downsample.Width(start, end, q.MinStride, int64(q.MaxPoints), agg)
	if w <= 0 {
		return s, nil
	}
	var err error
	s.Times, s.Values, err = downsample.Apply(s.Times, s.Values, w, agg)
	return s, err
}

// getData calls get_data. A sisock-era node's get_data takes only
// (field, start, end, min_stride) and fails on the max_points and agg
// keywords with an error outside the protocol's kinds: the call is then
// repeated without them, the node remembered, and the bridge downsamples.
func (c *Core) getData(ctx context.Context, node string, q Query) (*protocol.DataResult, error) {
	c.mu.Lock()
	legacy := c.legacy[node]
	c.mu.Unlock()
	bare := Query{Fields: q.Fields, Start: q.Start, End: q.End, MinStride: q.MinStride}
	if legacy {
		return c.src.GetData(ctx, node, bare)
	}
	res, err := c.src.GetData(ctx, node, q)
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) || ctx.Err() != nil {
		return res, err
	}
	res, err2 := c.src.GetData(ctx, node, bare)
	if err2 != nil {
		return nil, err
	}
	c.log.Info("node rejects max_points and agg: downsampling in the bridge", "node", node, "err", err)
	c.mu.Lock()
	c.legacy[node] = true
	c.mu.Unlock()
	return res, nil
}

// pointLimit is the most points a series may have for maxPoints: two per
// bucket with minmax.
func pointLimit(maxPoints int, agg string) int {
	if agg == protocol.AggMinMax {
		return 2 * maxPoints
	}
	return maxPoints
}
