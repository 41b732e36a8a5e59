package memrelease

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestReleaser(t *testing.T) {
	for _, tc := range []struct {
		name string
		// allocated is the process's allocation count in KiB: at the
		// start, then at each tick 1, 2, ...
		allocated []uint64
		// want is the ticks after which memory is released.
		want []int
	}{
		{"idle", []uint64{0, 0, 0, 0}, nil},
		{"a trickle is never a burst", []uint64{0, 512, 1024, 1536, 2048, 2560}, nil},
		{"burst then quiet", []uint64{0, 20 << 10, 20 << 10, 20 << 10}, []int{2}},
		{"burst still going", []uint64{0, 20 << 10, 40 << 10, 60 << 10, 60 << 10, 60 << 10}, []int{4}},
		{"two bursts", []uint64{0, 20 << 10, 20 << 10, 20 << 10, 50 << 10, 50 << 10, 50 << 10}, []int{2, 5}},
		{"a small burst waits for more", []uint64{0, 10 << 10, 10 << 10, 10 << 10, 18 << 10, 18 << 10}, []int{5}},
		{"quiet is under a MiB a tick", []uint64{0, 20 << 10, 21<<10 + 100, 22<<10 + 200, 22<<10 + 300}, []int{4}},
	} {
		w := watch{burst: DefaultBurst, quiet: DefaultQuiet}
		w.start(tc.allocated[0] << 10)
		var got []int
		for k := 1; k < len(tc.allocated); k++ {
			if w.step(tc.allocated[k] << 10) {
				got = append(got, k)
				w.start(tc.allocated[k] << 10)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: released after ticks %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestReleaserRuntimeFigures runs a Releaser on the runtime's own figures:
// a burst of garbage, then a quiet tick, brings a release.
func TestReleaserRuntimeFigures(t *testing.T) {
	tick := make(chan time.Time)
	released := make(chan struct{}, 1)
	r := &Releaser{Tick: tick, Release: func() {
		released <- struct{}{}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	tick <- time.Time{} // Run has read the start.
	var sink [][]byte
	for range 32 {
		sink = append(sink, make([]byte, 1<<20))
	}
	runtime.KeepAlive(sink)
	sink = nil
	tick <- time.Time{} // the burst
	tick <- time.Time{} // quiet
	tick <- time.Time{} // hands the quiet one over
	select {
	case <-released:
	default:
		t.Fatal("no release after a 32 MiB burst and a quiet tick")
	}
}
