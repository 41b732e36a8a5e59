package downsample

import (
	"math"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// Width is the bucket width in nanoseconds that get_data uses for a range
// [start, end) in nanoseconds, min_stride in seconds, max_points (0: none)
// and an aggregation; 0 means raw samples.
//
// It is w = max(min_stride, (end-start)/max_points) in nanoseconds, widened so that buckets aligned to multiples of w never give
// more than max_points points: a range of length L meets at most
// 1 + (L-1ns)/w aligned buckets, so w >= L/(buckets-1) keeps the count at
// or under the budget (minmax yields two points per bucket). Widths from
// max_points round up to a microsecond, the wire's time resolution.
func Width(start, end int64, stride float64, maxPoints int64, agg string) int64 {
	w := int64(math.Ceil(stride * 1e9))
	if maxPoints > 0 && end > start {
		per := PerBucket(agg)
		bw := budgetWidth(start, end, maxPoints/per)
		if maxPoints/per >= 2 {
			bw = Snap(bw) // tier-aligned; see docs/protocol.md
		}
		w = max(w, bw)
	}
	return max(w, 0)
}

// PerBucket is the most points one bucket yields under agg: two for
// minmax (the minimum and the maximum), else one.
func PerBucket(agg string) int64 {
	if agg == protocol.AggMinMax {
		return 2
	}
	return 1
}

// Buckets returns how many buckets of width w > 0, aligned to multiples
// of w, meet [start, end): 0 for an empty range. Start must be at least
// math.MinInt64 + w.
func Buckets(start, end, w int64) int64 {
	if end <= start {
		return 0
	}
	return (Start(end-1, w)-Start(start, w))/w + 1
}

// budgetWidth is a narrow width whose aligned buckets meeting
// [start, end) number at most nb.
func budgetWidth(start, end, nb int64) int64 {
	l := end - start
	if nb >= 2 {
		return RoundUp(ceilDiv(l, nb-1), 1000)
	}
	// One bucket [k*w, (k+1)*w) must hold the range: k*w <= start and
	// (k+1)*w >= end, so ceil(end/(k+1)) <= w <= floor(start/k). That holds
	// for real k <= start/l, but the interval is under a nanosecond near the
	// largest k; halving k widens it quickly while w stays a few times l,
	// so the bucket starts just before the range, not at the epoch.
	for k := start / l; k >= 1; k /= 2 {
		if w := ceilDiv(end, k+1); k*w <= start {
			return w
		}
	}
	return end
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// RoundUp rounds v up to a multiple of m (m <= 1: v itself; v <= 0: m),
// saturating at the largest int64.
func RoundUp(v, m int64) int64 {
	if m <= 1 {
		return v
	}
	if v <= 0 {
		return m
	}
	if r := v % m; r != 0 {
		if v > math.MaxInt64-m {
			return math.MaxInt64
		}
		v += m - r
	}
	return v
}

// niceWidths are the bucket widths, in seconds, from one second to a day.
var niceWidths = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// RoundWidth is the min_stride the Grafana bridge and the command line ask
// nodes for, as Grafana rounds its own intervals: the smallest
// round width (1-2-5 below a second, then 1s, 2s, 5s, 10s, 15s, 30s, 1m, ...,
// 12h, whole days) of at least interval such that buckets aligned to its
// multiples, which may straddle both ends of the range, number at most
// maxPoints. Round widths give panels round timestamps.
func RoundWidth(span time.Duration, maxPoints int, interval time.Duration) float64 {
	raw := span.Seconds() / float64(max(maxPoints-1, 1))
	raw = math.Max(raw, interval.Seconds())
	if raw <= 0 {
		return 0
	}
	if raw < 1 {
		d := math.Pow(10, math.Floor(math.Log10(raw)))
		for _, m := range []float64{1, 2, 5, 10} {
			if m*d >= raw*(1-1e-9) {
				return m * d
			}
		}
	}
	for _, w := range niceWidths {
		if w >= raw {
			return w
		}
	}
	return math.Ceil(raw/86400) * 86400
}
