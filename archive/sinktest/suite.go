package sinktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
)

// Points returns n points per field of nodes × fields, 100 ms apart from
// start, with values that tell them apart.
func Points(nodes, fields []string, start time.Time, n int) []archive.Point {
	var out []archive.Point
	for ni, node := range nodes {
		for fi, f := range fields {
			for i := range n {
				out = append(out, archive.Point{Node: node, Field: f, Timeline: "tl", Units: "K",
					Time: start.Add(time.Duration(i) * 100 * time.Millisecond).UnixNano(), Value: float64(ni*1000+fi*100) + float64(i)/8})
			}
		}
	}
	return out
}

// Want turns points into the series an engine of precision p returns.
func Want(pts []archive.Point, p time.Duration) Series {
	out := Series{}
	for _, pt := range pts {
		k := pt.Node + "/" + pt.Field
		out[k] = append(out[k], TV{T: pt.Time / int64(p) * int64(p), V: pt.Value.(float64)})
	}
	sortSeries(out)
	return out
}

// Diff describes how got differs from want, or returns "".
func Diff(got, want Series) string {
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			return fmt.Sprintf("%s: %d points, want %d", k, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				return fmt.Sprintf("%s point %d: got %+v, want %+v", k, i, g[i], w[i])
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("unexpected series %s (%d points)", k, len(got[k]))
		}
	}
	return ""
}

// Conformance checks what the archiver relies on from every sink: what is
// written reads back the same, writing it again (whole or overlapping,
// with a point repeated inside one batch) keeps one copy, and concurrent
// writers do not interfere. The sink must write the "telemesh" naming
// (node and field) that e.Read understands, into an empty engine.
func Conformance(t *testing.T, sk archive.Sink, e *Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Hour).Truncate(time.Second).Add(123456789)
	pts := Points([]string{"n1", "n2"}, []string{"f0", "f1"}, start, 500)
	want := Want(pts, e.Precision)

	t.Run("roundtrip", func(t *testing.T) {
		if err := sk.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		if d := Diff(e.Read(t), want); d != "" {
			t.Fatal(d)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		again := append(append([]archive.Point{}, pts[100:300]...), pts[200:250]...)
		if err := sk.Write(ctx, again); err != nil {
			t.Fatal(err)
		}
		if err := sk.Write(ctx, pts); err != nil {
			t.Fatal(err)
		}
		if d := Diff(e.Read(t), want); d != "" {
			t.Fatal(d)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		more := Points([]string{"n3", "n4"}, []string{"f0"}, start, 300)
		errs := make(chan error, 2)
		go func() { errs <- sk.Write(ctx, more[:300]) }()
		go func() { errs <- sk.Write(ctx, more[300:]) }()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		all := Want(append(append([]archive.Point{}, pts...), more...), e.Precision)
		if d := Diff(e.Read(t), all); d != "" {
			t.Fatal(d)
		}
	})
}
