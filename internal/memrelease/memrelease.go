// Package memrelease returns the memory a burst of work freed to the
// operating system once the process has gone quiet.
//
// The Go runtime gives freed heap back slowly: after a large answer or a
// backfill, a node that then allocates little runs no collection for up
// to two minutes and keeps the burst's pages resident until then and
// beyond. On the small computers nodes run on, that memory belongs to
// the rest of the machine as soon as the burst is over. A Releaser
// watches how much the process allocates; once a burst of at least Burst
// bytes is followed by a quiet period (less than Quiet bytes allocated in
// one Every), it collects and returns the free memory at once
// (debug.FreeOSMemory). A busy process is left to the runtime: it
// releases only when quiet, and at most once per Every.
package memrelease

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults of a Releaser's zero fields.
const (
	DefaultEvery = 2 * time.Second
	DefaultBurst = 16 << 20
	DefaultQuiet = 1 << 20
)

// A Releaser returns freed memory to the OS after bursts; the zero value
// uses the defaults and the runtime's own figures.
type Releaser struct {
	// Every is how often allocation is read, and the quiet period.
	Every time.Duration
	// Burst is how much must have been allocated since the last release
	// for another to be worth its collection.
	Burst uint64
	// Quiet is the most allocated in one Every that still counts as quiet.
	Quiet uint64
	// Allocated returns the bytes allocated since the process started;
	// nil reads the runtime's /gc/heap/allocs:bytes.
	Allocated func() uint64
	// Release collects and returns free memory; nil is debug.FreeOSMemory.
	Release func()
	// Tick, when set, replaces the Every ticker (tests).
	Tick <-chan time.Time
}

// Run watches and releases until ctx ends.
func (r *Releaser) Run(ctx context.Context) {
	every, burst, quiet := r.Every, r.Burst, r.Quiet
	if every <= 0 {
		every = DefaultEvery
	}
	if burst == 0 {
		burst = DefaultBurst
	}
	if quiet == 0 {
		quiet = DefaultQuiet
	}
	allocated, release := r.Allocated, r.Release
	if allocated == nil {
		allocated = heapAllocated
	}
	if release == nil {
		release = debug.FreeOSMemory
	}
	tick := r.Tick
	if tick == nil {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	w := watch{burst: burst, quiet: quiet}
	w.start(allocated())
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if w.step(allocated()) {
			release()
			// What the release itself allocated is not a burst.
			w.start(allocated())
		}
	}
}

// watch is a Releaser's reckoning of allocation, one reading at a time.
type watch struct {
	burst, quiet uint64
	released     uint64 // the count at the last release (or the start)
	last         uint64 // the count at the last reading
}

func (w *watch) start(now uint64) { w.released, w.last = now, now }

// step takes the next reading and says whether to release now: a burst
// since the last release, and a quiet period since the reading before.
func (w *watch) step(now uint64) bool {
	quiet := now-w.last < w.quiet
	w.last = now
	return now-w.released >= w.burst && quiet
}

// heapAllocated is the runtime's count of bytes allocated on the heap.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
