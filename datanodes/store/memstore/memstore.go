// Package memstore is an in-memory store.Store for tests and ephemeral
// data nodes. It keeps every reading until the process ends.
package memstore

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	meta   map[string]store.FieldMeta
	series map[string]*series
	closed bool
}

var _ store.Store = (*Store)(nil)

// series holds the readings of one field in ascending time order.
type series struct {
	times  []int64
	values protocol.Values
}

func (s *series) put(t int64, v protocol.Value) {
	n := len(s.times)
	if n == 0 || s.times[n-1] < t {
		s.times = append(s.times, t)
		_ = s.values.Append(v) // of the series' type, checked by Append
		return
	}
	i := sort.Search(n, func(i int) bool { return s.times[i] >= t })
	if s.times[i] == t {
		s.setAt(i, v)
		return
	}
	s.times = slices.Insert(s.times, i, t)
	switch v.Type {
	case protocol.TypeNumber:
		s.values.Nums = slices.Insert(s.values.Nums, i, v.Num)
	case protocol.TypeString:
		s.values.Strs = slices.Insert(s.values.Strs, i, v.Str)
	case protocol.TypeBool:
		s.values.Bools = slices.Insert(s.values.Bools, i, v.Bool)
	}
}

func (s *series) setAt(i int, v protocol.Value) {
	switch v.Type {
	case protocol.TypeNumber:
		s.values.Nums[i] = v.Num
	case protocol.TypeString:
		s.values.Strs[i] = v.Str
	case protocol.TypeBool:
		s.values.Bools[i] = v.Bool
	}
}

// span returns the index range of readings in [start, end).
func (s *series) span(start, end int64) (int, int) {
	lo := sort.Search(len(s.times), func(i int) bool { return s.times[i] >= start })
	hi := sort.Search(len(s.times), func(i int) bool { return s.times[i] >= end })
	return lo, hi
}

// New returns an empty store.
func New() *Store {
	return &Store{meta: map[string]store.FieldMeta{}, series: map[string]*series{}}
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return protocol.Errorf(protocol.Unavailable, "store closed")
	}
	return nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, batch []protocol.Series) error {
	if err := store.CheckAppend(batch); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	types := map[string]string{}
	for _, b := range batch {
		if len(b.Times) == 0 {
			continue
		}
		typ, ok := types[b.Field]
		if sr := s.series[b.Field]; !ok && sr != nil {
			typ, ok = sr.values.Type, true
		}
		if ok && typ != b.Values.Type {
			return protocol.Errorf(protocol.InvalidArgument, "field %s holds %s values, not %s", b.Field, typ, b.Values.Type)
		}
		types[b.Field] = b.Values.Type
	}
	for _, b := range batch {
		if len(b.Times) == 0 {
			continue
		}
		sr := s.series[b.Field]
		if sr == nil {
			sr = &series{values: protocol.Values{Type: b.Values.Type}}
			s.series[b.Field] = sr
		}
		for i, t := range b.Times {
			sr.put(t, b.Values.At(i))
		}
	}
	return nil
}

// Flush implements store.Store; readings are visible as soon as appended.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check(ctx)
}

// PutFields implements store.Store.
func (s *Store) PutFields(ctx context.Context, fields []store.FieldMeta) error {
	if err := store.CheckFields(fields); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	for _, f := range fields {
		f.First, f.Last = 0, 0
		s.meta[f.Name] = f
	}
	return nil
}

// Fields implements store.Store. A field matches [start, end) when the
// span from its first to its last reading overlaps it.
func (s *Store) Fields(ctx context.Context, start, end int64) ([]store.FieldMeta, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	all := start == 0 && end == 0
	var out []store.FieldMeta
	add := func(name string, f store.FieldMeta, sr *series) {
		if sr != nil && len(sr.times) > 0 {
			f.First, f.Last = sr.times[0], sr.times[len(sr.times)-1]
			if f.Type == "" {
				f.Type = sr.values.Type
			}
		}
		if !all && !store.SpanOverlaps(f.First, f.Last, start, end) {
			return
		}
		f.Name = name
		out = append(out, f)
	}
	for name, f := range s.meta {
		add(name, f, s.series[name])
	}
	for name, sr := range s.series {
		if _, ok := s.meta[name]; !ok {
			add(name, store.FieldMeta{}, sr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Query implements store.Store.
func (s *Store) Query(ctx context.Context, q store.Query) ([]protocol.Series, error) {
	agg, err := downsample.CheckQuery(q.Bucket, q.Agg, q.Limit)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var out []protocol.Series
	points := 0
	seen := map[string]bool{}
	for _, name := range q.Fields {
		if seen[name] {
			continue
		}
		seen[name] = true
		sr := s.series[name]
		if sr == nil || q.End <= q.Start {
			continue
		}
		lo, hi := sr.span(q.Start, q.End)
		if lo == hi {
			continue
		}
		times, values := sr.times[lo:hi], sr.values.Slice(lo, hi)
		if q.Bucket > 0 {
			if times, values, err = downsample.Apply(times, values, q.Bucket, agg); err != nil {
				return nil, err
			}
		}
		points += len(times)
		if q.Limit > 0 && points > q.Limit {
			continue // keep counting for the error's details
		}
		if q.Bucket == 0 {
			times, values = slices.Clone(times), values.Clone()
		}
		out = append(out, protocol.Series{Field: name, Times: times, Values: values})
	}
	if q.Limit > 0 && points > q.Limit {
		return nil, downsample.TooMuchData(points, q.Limit)
	}
	return out, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
