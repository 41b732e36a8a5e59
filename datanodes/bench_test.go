package datanodes

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/internal/testutil"
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

// tenFieldsEnv is a node on SQLite holding ten fields at 1 Hz for a day,
// written to the store before the node starts.
func tenFieldsEnv(b *testing.B) *env {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "n.db"), sqlite.Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	var metas []store.FieldMeta
	for f := range 10 {
		metas = append(metas, store.FieldMeta{Name: fmt.Sprintf("f%d", f), Type: protocol.TypeNumber, Interval: int64(time.Second)})
	}
	if err := st.PutFields(ctx, metas); err != nil {
		b.Fatal(err)
	}
	const hour = 3600
	for h := range 24 {
		series := make([]protocol.Series, len(metas))
		for f, m := range metas {
			sr := protocol.Series{Field: m.Name, Times: make([]int64, hour), Values: protocol.Values{Type: protocol.TypeNumber, Nums: make([]float64, hour)}}
			for i := range hour {
				k := h*hour + i
				sr.Times[i] = sec(t0 + float64(k))
				sr.Values.Nums[i] = math.Round((math.Sin(float64(k)/3600+float64(f))*20+float64(k%7)*0.01)*1000) / 1000
			}
			series[f] = sr
		}
		if err := st.Append(ctx, series); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	_, url := testutil.NexusRouter(b, protocol.DefaultRealm)
	return startNodeOn(b, url, st, nil)
}

// BenchmarkGetDataBucketedOverLimit is ten fields for a day at 1 Hz,
// bucketed by min_stride past the default 1 MiB reply limit (26,214
// points): streamed as progressive results, and refused without them.
func BenchmarkGetDataBucketedOverLimit(b *testing.B) {
	e := tenFieldsEnv(b)
	fields := make([]string, 10)
	for i := range fields {
		fields[i] = fmt.Sprintf("f%d", i)
	}
	args := wamp.List{fields, t0, t0 + 86400}
	for _, c := range []struct {
		name   string
		stride float64
		agg    string
	}{
		{"progressive/stride=10s", 10, protocol.AggMean},          // 86,400 points
		{"progressive/stride=1s", 1, protocol.AggMean},            // 864,000 points
		{"progressive/stride=60s/minmax", 60, protocol.AggMinMax}, // 28,800 points
	} {
		b.Run(c.name, func(b *testing.B) {
			kw := wamp.Dict{"min_stride": c.stride, "agg": c.agg}
			for b.Loop() {
				if _, err := e.call.Call(context.Background(), e.names.GetData("n1"), nil, args, kw, func(*wamp.Result) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("refused/stride=1s", func(b *testing.B) {
		kw := wamp.Dict{"min_stride": 1}
		for b.Loop() {
			if _, err := e.call.Call(context.Background(), e.names.GetData("n1"), nil, args, kw, nil); err == nil {
				b.Fatal("an over-limit answer without progressive results")
			}
		}
	})
}

// BenchmarkEncodeRawDay is the msgpack encoding of a raw day of one field
// as one YIELD (the node's share of a raw answer). Run it with and
// without -tags codec.notfastpath (make node-build) to see what the
// codec's generated fast paths are worth to a node.
func BenchmarkEncodeRawDay(b *testing.B) {
	s := protocol.Series{Field: "x", Timeline: "x", Times: make([]int64, 86400), Values: protocol.Values{Type: protocol.TypeNumber, Nums: make([]float64, 86400)}}
	for i := range s.Times {
		s.Times[i] = int64(t0+float64(i)) * 1e9
		s.Values.Nums[i] = float64(i%977) * 0.001
	}
	msg := &wamp.Yield{Request: 1, Options: wamp.Dict{"progress": true}, Arguments: wamp.List{protocol.EncodeResult([]protocol.Series{s}, nil)}}
	var ser serialize.MessagePackSerializer
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ser.Serialize(msg); err != nil {
			b.Fatal(err)
		}
	}
}
