package bridge

import (
	"testing"
	"time"
)

func TestBucketWidth(t *testing.T) {
	for _, c := range []struct {
		span     time.Duration
		points   int
		interval time.Duration
		want     float64
	}{
		{time.Hour, 6, 0, 900},
		{time.Hour, 6, 30 * time.Minute, 1800},
		{10 * time.Minute, 60, time.Second, 15},
		{7 * 24 * time.Hour, 1000, 10 * time.Minute, 900},
		{30 * 24 * time.Hour, 1000, 0, 3600},
		{time.Second, 100, 0, 0.02},
		{time.Second, 11, 0, 0.1},
		{400 * 24 * time.Hour, 10, 0, 45 * 86400},
		{time.Hour, 100000, 0, 0.05},
	} {
		got := BucketWidth(c.span, c.points, c.interval)
		if got != c.want {
			t.Errorf("BucketWidth(%s, %d, %s) = %v, want %v", c.span, c.points, c.interval, got, c.want)
		}
		if n := c.span.Seconds()/got + 1; got > 0 && n > float64(c.points)+1e-9 {
			t.Errorf("BucketWidth(%s, %d): up to %.0f buckets", c.span, c.points, n)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for in, ok := range map[string]bool{"sim::temperature": true, "*::co2": true, " a::b.c:d ": true,
		"temperature": false, "::x": false, "a::": false, "a b::c": false, "a::b c": false} {
		_, err := ParseTarget(in)
		if (err == nil) != ok {
			t.Errorf("ParseTarget(%q): %v", in, err)
		}
	}
}
