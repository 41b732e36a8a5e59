package datanodes

import (
	"context"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
)

// dayEnv is a node holding one day of field x at 1 Hz.
func dayEnv(b *testing.B) *env {
	e := newEnv(b, nil)
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "x", Interval: time.Second})
	rs := make([]protocol.Reading, 0, 86400)
	for i := range 86400 {
		rs = append(rs, protocol.Reading{Field: "x", Time: sec(t0 + float64(i)), Value: float64(i % 977)})
	}
	s.Emit(rs...)
	return e
}

// BenchmarkGetDataDayDownsampled is one day at 1 Hz to 1000 points over
// the router (msgpack).
func BenchmarkGetDataDayDownsampled(b *testing.B) {
	e := dayEnv(b)
	args := wamp.List{[]string{"x"}, t0, t0 + 86400}
	kw := wamp.Dict{"max_points": 1000}
	for b.Loop() {
		if _, err := e.call.Call(context.Background(), e.names.GetData("n1"), nil, args, kw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetDataDayRawProgressive is one day at 1 Hz raw, streamed as
// progressive results under the 1 MiB reply limit.
func BenchmarkGetDataDayRawProgressive(b *testing.B) {
	e := dayEnv(b)
	args := wamp.List{[]string{"x"}, t0, t0 + 86400}
	for b.Loop() {
		if _, err := e.call.Call(context.Background(), e.names.GetData("n1"), nil, args, nil, func(*wamp.Result) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSinkEmit is ingest through the node's sink into memstore, in
// batches of 1000 readings of 10 fields.
func BenchmarkSinkEmit(b *testing.B) {
	e := newEnv(b, nil)
	s := e.node.Sink()
	for i := range 10 {
		s.Declare(driver.Field{Name: string(rune('a' + i))})
	}
	batch := make([]protocol.Reading, 1000)
	k := int64(0)
	for b.Loop() {
		for i := range batch {
			batch[i] = protocol.Reading{Field: string(rune('a' + i%10)), Time: sec(t0) + k*1e6, Value: float64(i)}
			if i%10 == 9 {
				k++
			}
		}
		s.Emit(batch...)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "readings/s")
}
