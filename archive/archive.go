// Package archive copies every data node's readings into external
// time-series engines (InfluxDB, VictoriaMetrics, PostgreSQL/TimescaleDB).
//
// An Archiver follows the hub through a Source, runs one worker per sink
// and node, and keeps a durable cursor per (sink, node, field) in a small
// SQLite file: everything before a cursor is in that sink. Live readings
// are written at once for low latency, but a cursor only moves once a
// get_data slice of the node's own store, up to its finalized_until, is in
// the sink, so the node's store is the durable buffer: a restart, a router
// outage or a sink outage resumes from the cursors with no gap. Sinks write
// idempotently (the same series and time give the same point), so what is
// written twice around a crash is kept once.
//
// Sinks are plugins behind the Sink interface, registered by name with
// RegisterSink from packages of their own (archive/sink/<name>).
package archive

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/telemesh/telemesh/protocol"
)

// Point is one reading of one field of one node, as sinks receive it.
type Point struct {
	Node, Field, Timeline string
	// Units of the field; empty when the node gives none.
	Units string
	// Time is nanoseconds since the epoch, UTC (protocol.ToNanos of the
	// wire time, so that the same reading always gets the same time).
	Time int64
	// Value is a float64, string or bool.
	Value any
}

// Source is what the archiver needs of a telemesh deployment: the hub's
// node list and events, and each node's fields, data and live readings.
type Source interface {
	// ListNodes returns the names of the nodes the hub knows.
	ListNodes(ctx context.Context) ([]string, error)
	// GetFields returns a node's fields (all time).
	GetFields(ctx context.Context, node string) (map[string]protocol.FieldInfo, error)
	// GetData returns a node's data for fields in [start, end): every
	// sample when maxPoints is 0, else at most about maxPoints buckets
	// per field (aggregated with last).
	GetData(ctx context.Context, node string, fields []string, start, end float64, maxPoints int) (*protocol.DataResult, error)
	// Subscribe calls fn with each live batch of node until stop; fn must
	// not block.
	Subscribe(ctx context.Context, node string, fn func(*protocol.DataResult)) (stop func(), err error)
	// WatchNodes calls fn when the hub adds or removes a node, until stop;
	// fn must not block.
	WatchNodes(fn func(added bool, node string)) (stop func())
}

// Sink stores points in an external engine.
type Sink interface {
	// Write stores pts; nil means the engine acknowledged all of them
	// durably. Writing the same point again must not duplicate it. An
	// error wrapping *RejectedError means the engine refused the points
	// for good (retrying cannot help); any other error is retried.
	Write(ctx context.Context, pts []Point) error
	// Close releases the sink's connections.
	Close() error
}

// RejectedError reports points a sink refused for good, such as a field
// type conflict: they are counted and logged, not retried.
type RejectedError struct {
	// Points is how many points were refused (0: unknown, the whole batch).
	Points int
	Err    error
}

func (e *RejectedError) Error() string { return "points rejected: " + e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// Rejected wraps err as a RejectedError for n points.
func Rejected(n int, err error) error { return &RejectedError{Points: n, Err: err} }

// IsRejected reports whether err says points were refused for good.
func IsRejected(err error) (*RejectedError, bool) {
	var re *RejectedError
	ok := errors.As(err, &re)
	return re, ok
}

// SinkType is a registered kind of sink.
type SinkType struct {
	// Name is the type: value in the configuration.
	Name  string
	Usage string
	// Sample is a documented configuration block.
	Sample string
	// Open decodes the sink's YAML block (strictly) and returns the sink.
	// It must not need the engine to be reachable: a sink that cannot
	// connect yet fails its writes, which are retried.
	Open func(block []byte) (Sink, error)
}

var (
	regMu sync.Mutex
	reg   = map[string]SinkType{}
)

// RegisterSink adds a sink type; sink packages call it in init.
func RegisterSink(t SinkType) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[t.Name]; dup {
		panic(fmt.Sprintf("archive: sink type %q registered twice", t.Name))
	}
	reg[t.Name] = t
}

// SinkTypes lists the registered sink types by name.
func SinkTypes() []SinkType {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]SinkType, 0, len(reg))
	for _, t := range reg {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sinkType(name string) (SinkType, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	t, ok := reg[name]
	return t, ok
}
