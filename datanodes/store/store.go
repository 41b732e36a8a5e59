// Package store defines how a data node keeps its readings: a small Store
// interface, implemented by datanodes/store/sqlite (durable) and
// datanodes/store/memstore (in memory, for tests and ephemeral nodes), both
// held to one conformance suite in datanodes/store/storetest.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// Store keeps readings and field metadata. All methods are safe for
// concurrent use and honour ctx cancellation where they may take long.
type Store interface {
	// Append stores readings, given as typed columns (one Series per field;
	// Timeline is ignored). Each series must pass Series.CheckReadings, or
	// Append stores nothing and returns an InvalidArgument error; so does a
	// series whose value type differs from what the store holds for the
	// field, where the store can tell. Readings of one field may arrive in
	// any time order; a reading at a time a field already has replaces it,
	// and of two at one time within a series the later one wins. Append
	// may buffer: readings are durable after the next Flush, or within the
	// store's flush interval. Appended readings are visible to Query and
	// Fields as soon as Append returns. The series are not retained.
	Append(ctx context.Context, series []protocol.Series) error

	// Flush makes every appended reading durable.
	Flush(ctx context.Context) error

	// PutFields records or updates field metadata.
	PutFields(ctx context.Context, fields []FieldMeta) error

	// Fields returns the metadata of every field with at least one reading
	// in [start, end) (nanoseconds), or of every known field when both are 0.
	// A field counts as having a reading in the range when the span from its
	// first to its last reading overlaps it (see SpanOverlaps).
	Fields(ctx context.Context, start, end int64) ([]FieldMeta, error)

	// Query returns the readings of q.Fields in [q.Start, q.End), one Series
	// per requested field that has data, in the order of q.Fields, its
	// points in time order; Series.Timeline is left empty (the node knows
	// the timelines). With q.Bucket > 0 it
	// aggregates into buckets aligned to multiples of q.Bucket (see Query).
	// When the result would hold more than q.Limit points (q.Limit > 0), it
	// returns a *protocol.Error of kind TooMuchData with the point count in
	// its Details["points"], never a truncated result.
	Query(ctx context.Context, q Query) ([]protocol.Series, error)

	// Close flushes and releases the store.
	Close() error
}

// WriteStats is the state of a store's write path: what waits to be
// written, what was lost, and how long writes take. Stores that buffer
// report it (the SQLite store does); the node shows it in its health and
// metrics.
type WriteStats struct {
	// Buffered counts readings in memory not written yet; MaxBuffered is
	// the bound beyond which they are spilled (or dropped).
	Buffered, MaxBuffered int64
	// Spilled counts readings in spill files not written yet;
	// SpilledTotal every reading ever spilled since the store opened.
	Spilled, SpilledTotal int64
	// Dropped counts readings refused since the store opened because the
	// buffer was full and could not be spilled.
	Dropped int64
	// FlushFailures counts failed flushes since the store opened.
	FlushFailures int64
	// Problem is the last flush's error while flushes fail ("" when they
	// succeed); FailingSince is when they began to fail.
	Problem      string
	FailingSince time.Time
	// FlushMax is the longest a successful flush took (encoding and
	// commit); LagMax the longest a reading waited from Append to its
	// commit. A crash loses at most about LagMax of readings.
	FlushMax, LagMax time.Duration
}

// Migration is the state of a store's conversion of a database written
// by an older release, which it does in the background while it serves
// (the SQLite store does); the node shows it in its health and metrics.
// The zero value is no migration under way.
type Migration struct {
	// Active is true from the store's open until its last field is
	// converted.
	Active bool
	// Schema is the schema version the store converts to.
	Schema int
	// Fields counts the fields to convert, FieldsDone those converted.
	Fields, FieldsDone int
	// Readings counts the readings to convert (0 until counted),
	// ReadingsDone those converted, the field under way included.
	Readings, ReadingsDone int64
	// Since is when the migration began, in this process.
	Since time.Time
	// Problem is the last error converting a field, retried with backoff
	// ("" when none): the field's old rows stay until it succeeds.
	Problem string
}

// Progress returns the part converted, from 0 to 1 (1 when none is under
// way): by readings once counted, else by fields.
func (m Migration) Progress() float64 {
	switch {
	case !m.Active:
		return 1
	case m.Readings > 0:
		return min(float64(m.ReadingsDone)/float64(m.Readings), 1)
	case m.Fields > 0:
		return float64(m.FieldsDone) / float64(m.Fields)
	}
	return 0
}

// String describes a migration under way, as in "store migrating to
// schema 3: 4 of 10 fields, 41%".
func (m Migration) String() string {
	if !m.Active {
		return "no store migration under way"
	}
	return fmt.Sprintf("store migrating to schema %d: %d of %d fields, %d%%", m.Schema, m.FieldsDone, m.Fields, int(100*m.Progress()))
}

// FieldMeta is what a store keeps about a field.
type FieldMeta struct {
	Name        string
	Description string
	Units       string
	Type        string // protocol.TypeNumber, TypeString or TypeBool
	Timeline    string
	// Interval is the nominal sampling interval in nanoseconds; 0 if aperiodic.
	Interval int64
	// First and Last are the times of the field's oldest and newest
	// readings in the store (nanoseconds), 0 when it has none. Stores fill
	// them in Fields; PutFields ignores them.
	First, Last int64
}

// Query selects readings.
type Query struct {
	Fields     []string
	Start, End int64 // nanoseconds, half-open [Start, End)
	// Bucket, when positive, is the bucket width in nanoseconds: the result
	// has one point per non-empty bucket, stamped at the bucket start
	// (floor(t/Bucket)*Bucket), or two for AggMinMax: the bucket's minimum
	// and maximum, both stamped at the bucket start and ordered by when they
	// occurred (one point when the bucket holds a single reading). Non-number
	// fields aggregate with AggLast whatever Agg says.
	Bucket int64
	// Agg is one of protocol.Aggs; "" is AggMean. The rules are package
	// protocol/downsample's.
	Agg string
	// Limit caps the number of points of all series together; 0 = no cap.
	Limit int
}

// Scanner is implemented by stores that can stream a raw query's readings
// as typed slices, without holding the whole answer or counting it first:
// a progressive get_data answer can be sent slice by slice as it is read.
type Scanner interface {
	// Scan returns an iterator over the readings of q.Fields in
	// [q.Start, q.End), field by field in the order of q.Fields, each field's
	// readings in time order, in series of at most max(slice, 1) points.
	// q.Bucket must be 0; q.Limit is ignored.
	Scan(ctx context.Context, q Query, slice int) SeriesIterator
}

// SeriesIterator pulls typed series, in the style of Prometheus's
// storage.SeriesSet: call Next until it returns false, then Err.
type SeriesIterator interface {
	// Next advances to the next series and reports whether there is one.
	Next() bool
	// At returns the current series; it stays valid after Next.
	At() protocol.Series
	// Err returns the error that stopped the iteration, if any.
	Err() error
	// Close releases the iterator; it may be called at any time.
	Close() error
}
