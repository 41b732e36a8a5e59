package bridge

import (
	"context"
	"math"
	"sort"
	"sync"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// t0 is the start of the fake data: 2023-11-14T22:13:20Z.
const t0 = 1700000000.0

type fakeField struct {
	info   protocol.FieldInfo
	period float64
	value  func(t float64) any
}

// fakeSource is an in-memory Source whose nodes generate samples on a fixed
// grid from t0 on and answer get_data as a telemesh node does: downsampled
// by package downsample, encoded and decoded by package protocol.
type fakeSource struct {
	mu     sync.Mutex
	nodes  map[string]map[string]fakeField
	block  map[string]bool // nodes whose get_data hangs until the call ends
	calls  map[string]int
	fields map[string]int
	subs   map[string][]func(*protocol.DataResult)
}

// fakeLimits are the limits of sim::temperature, which swings between
// 19 and 21 °C in steps of 0.1 about once an hour: warning below 19.2 and
// above 20.5, alarm above 20.85, hysteresis 0.2.
var fakeLimits = protocol.Limits{
	Warning:    &protocol.Range{Low: protocol.Ptr(19.2), High: protocol.Ptr(20.5)},
	Alarm:      &protocol.Range{High: protocol.Ptr(20.85)},
	Hysteresis: 0.2,
}

func withLimits(fi protocol.FieldInfo, l protocol.Limits) protocol.FieldInfo {
	fi.Limits = &l
	return fi
}

func newFakeSource() *fakeSource {
	num := func(tl, units string) protocol.FieldInfo {
		return protocol.FieldInfo{Timeline: tl, Type: protocol.TypeNumber, Units: protocol.Ptr(units), Description: protocol.Ptr("simulated")}
	}
	return &fakeSource{
		nodes: map[string]map[string]fakeField{
			"sim": {
				"temperature": {withLimits(num("env", "degC"), fakeLimits), 10, func(t float64) any { return 20 + math.Round(10*math.Sin((t-t0)/600))/10 }},
				"humidity":    {num("env", "%"), 10, func(t float64) any { return 40 + float64(int(t-t0)/10%5) }},
				"co2":         {num("env", "ppm"), 10, func(t float64) any { return 400 + float64(int(t-t0)/60) }},
				"status": {protocol.FieldInfo{Timeline: "events", Type: protocol.TypeString}, 900, func(t float64) any {
					if int(t-t0)/900%2 == 1 {
						return "door opened"
					}
					return ""
				}},
			},
			"lab": {
				"pressure": {num("lab", "hPa"), 30, func(t float64) any { return 1013.25 }},
			},
		},
		block:  map[string]bool{},
		calls:  map[string]int{},
		fields: map[string]int{},
		subs:   map[string][]func(*protocol.DataResult){},
	}
}

func (f *fakeSource) Nodes(ctx context.Context) ([]protocol.NodeInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []protocol.NodeInfo
	for name := range f.nodes {
		out = append(out, protocol.NodeInfo{Name: name, Description: "fake " + name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeSource) Fields(ctx context.Context, node string, start, end float64) (map[string]protocol.FieldInfo, map[string]protocol.TimelineInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fields[node]++
	n, ok := f.nodes[node]
	if !ok {
		return nil, nil, protocol.Errorf(protocol.NoSuchNode, "no such procedure telemesh.consumer.%s.get_fields", node)
	}
	fs := map[string]protocol.FieldInfo{}
	tls := map[string]protocol.TimelineInfo{}
	for name, fd := range n {
		fs[name] = fd.info
		tl := tls[fd.info.Timeline]
		tl.Interval = protocol.Ptr(fd.period)
		tl.Fields = append(tl.Fields, name)
		sort.Strings(tl.Fields)
		tls[fd.info.Timeline] = tl
	}
	return fs, tls, nil
}

func (f *fakeSource) GetData(ctx context.Context, node string, q Query) (*protocol.DataResult, error) {
	f.mu.Lock()
	f.calls[node]++
	n, ok := f.nodes[node]
	block := f.block[node]
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if !ok {
		return nil, protocol.Errorf(protocol.NoSuchNode, "no such procedure telemesh.consumer.%s.get_data", node)
	}
	start, end := protocol.ClampNanos(q.Start), protocol.ClampNanos(q.End)
	agg := q.Agg
	if agg == "" {
		agg = protocol.AggMean
	}
	w := downsample.Width(start, end, q.MinStride, int64(q.MaxPoints), agg)
	var series []protocol.Series
	for _, name := range q.Fields {
		fd, ok := n[name]
		if !ok {
			return nil, protocol.Errorf(protocol.UnknownField, "unknown field %s", name)
		}
		s := fd.samples(name, q.Start, q.End)
		if w > 0 {
			var err error
			if s.Times, s.Values, err = downsample.Apply(s.Times, s.Values, w, agg); err != nil {
				return nil, err
			}
		}
		series = append(series, s)
	}
	return protocol.DecodeDataResult(protocol.EncodeResult(series, func(string) *float64 { return protocol.Ptr(q.End) }))
}

// samples are the readings of the field in [start, end).
func (fd fakeField) samples(name string, start, end float64) protocol.Series {
	first := t0
	if start > t0 {
		first = t0 + math.Ceil((start-t0)/fd.period)*fd.period
	}
	s := protocol.Series{Field: name, Timeline: fd.info.Timeline}
	for t := first; t < end; t += fd.period {
		v, err := protocol.ValueOf(fd.value(t))
		if err != nil {
			panic(err)
		}
		s.Times = append(s.Times, protocol.ClampNanos(t))
		if err := s.Values.Append(v); err != nil {
			panic(err)
		}
	}
	return s
}

func (f *fakeSource) Subscribe(ctx context.Context, node string, fn func(*protocol.DataResult)) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nodes[node]; !ok {
		return nil, protocol.Errorf(protocol.NoSuchNode, "no node %s", node)
	}
	f.subs[node] = append(f.subs[node], fn)
	i := len(f.subs[node]) - 1
	return func() {
		f.mu.Lock()
		f.subs[node][i] = nil
		f.mu.Unlock()
	}, nil
}

// publish sends a live batch to the subscribers of node.
func (f *fakeSource) publish(node string, r *protocol.DataResult) {
	f.mu.Lock()
	subs := append([]func(*protocol.DataResult){}, f.subs[node]...)
	f.mu.Unlock()
	for _, fn := range subs {
		if fn != nil {
			fn(r)
		}
	}
}

// NewFakeSource is the in-memory source for the tests of other packages in
// this folder: node sim (temperature, with limits, humidity, co2, status) and lab
// (pressure) from t0 on.
func NewFakeSource() Source { return newFakeSource() }

// T0 is the start of the fake data, in seconds.
const T0 = t0
