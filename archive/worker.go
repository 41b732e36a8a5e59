package archive

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// probePoints is the resolution of the probe that finds where a node's
// data resumes after an empty window.
const probePoints = 256

// liveMemoMax bounds the live point times a worker remembers between two
// verifications; beyond it the verification simply rewrites (idempotent).
const liveMemoMax = 200_000

// worker copies one node into one sink. Its state is owned by its Run
// goroutine; the live callback only sends on live (never blocking) and
// sets overflow.
type worker struct {
	a    *Archiver
	sink string
	sk   Sink
	node string
	log  *slog.Logger

	live     chan *protocol.DataResult
	overflow atomic.Bool
	dropped  atomic.Int64

	fields map[string]protocol.FieldInfo
	cur    map[string]float64 // durable cursors
	scan   float64            // data before scan is handled (in memory only)
	window time.Duration
	memo   map[string]map[int64]bool // times written live, not yet verified
	memoN  int
	stale  bool // a live batch named an unknown field

	mu         sync.Mutex
	newest     int64   // ns of the newest point written
	minCursor  float64 // seconds
	catchingUp bool
}

func (a *Archiver) newWorker(sink string, sk Sink, node string) *worker {
	return &worker{
		a: a, sink: sink, sk: sk, node: node,
		log:    a.log.With("sink", sink, "node", node),
		live:   make(chan *protocol.DataResult, a.cfg.LiveQueue),
		cur:    map[string]float64{},
		memo:   map[string]map[int64]bool{},
		window: a.cfg.Window.D(),
	}
}

// offer hands a live batch to the worker without blocking; a full queue
// drops it, and the worker reads it back from the node's store.
func (w *worker) offer(r *protocol.DataResult) {
	select {
	case w.live <- r:
	default:
		w.overflow.Store(true)
		w.dropped.Add(1)
	}
}

func (w *worker) run(ctx context.Context) {
	cur, err := w.a.cur.load(ctx, w.sink, w.node)
	for err != nil {
		w.log.Error("cannot read cursors", "err", err)
		if !sleep(ctx, time.Second) {
			return
		}
		cur, err = w.a.cur.load(ctx, w.sink, w.node)
	}
	w.cur = cur
	bo := backoff{}
	for ctx.Err() == nil {
		w.setCatchingUp(true)
		if err := w.catchUp(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("catch-up failed; retrying", "err", err)
			if !sleep(ctx, bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		w.setCatchingUp(false)
		w.follow(ctx)
	}
}

// follow writes live batches until the next verification is due or live
// readings overflowed.
func (w *worker) follow(ctx context.Context) {
	w.drain() // batches queued while catching up are covered by it
	w.overflow.Store(false)
	t := time.NewTimer(w.a.cfg.VerifyInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case r := <-w.live:
			pts := w.livePoints(r, nil)
			for len(pts) < w.a.cfg.BatchSize {
				select {
				case r := <-w.live:
					pts = w.livePoints(r, pts)
					continue
				default:
				}
				break
			}
			if len(pts) > 0 {
				if err := w.write(ctx, pts); err != nil {
					return
				}
				w.remember(pts)
			}
			if w.overflow.Load() || w.stale {
				return
			}
		}
	}
}

func (w *worker) drain() {
	for {
		select {
		case <-w.live:
		default:
			return
		}
	}
}

// livePoints appends the points of a live batch not yet archived.
func (w *worker) livePoints(r *protocol.DataResult, pts []Point) []Point {
	for f, vs := range r.Data {
		fi, ok := w.fields[f]
		if !ok {
			w.stale = true
			continue
		}
		tl, ok := r.Timeline[fi.Timeline]
		if !ok {
			continue
		}
		c := w.cur[f]
		for i, t := range tl.T {
			if i >= vs.Len() || t < c {
				continue
			}
			if p, ok := w.point(f, fi, t, vs.At(i).Any()); ok && !w.memo[f][p.Time] {
				pts = append(pts, p)
			}
		}
	}
	return pts
}

func (w *worker) remember(pts []Point) {
	if w.memoN+len(pts) > liveMemoMax {
		clear(w.memo)
		w.memoN = 0
		return
	}
	for _, p := range pts {
		m := w.memo[p.Field]
		if m == nil {
			m = map[int64]bool{}
			w.memo[p.Field] = m
		}
		if !m[p.Time] {
			m[p.Time] = true
			w.memoN++
		}
	}
}

func (w *worker) point(f string, fi protocol.FieldInfo, t float64, v any) (Point, bool) {
	switch x := v.(type) {
	case float64, string, bool:
	case float32:
		v = float64(x)
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	default:
		return Point{}, false // null or a value no engine takes
	}
	p := Point{Node: w.node, Field: f, Timeline: fi.Timeline, Time: protocol.ClampNanos(t), Value: v}
	if fi.Units != nil {
		p.Units = *fi.Units
	}
	return p, true
}

// catchUp reads the node's store from the cursors to its finalized_until
// in slices, writes what the sink lacks and moves the cursors.
func (w *worker) catchUp(ctx context.Context) error {
	fs, err := w.a.src.GetFields(ctx, w.node)
	if err != nil {
		return err
	}
	w.fields, w.stale = fs, false
	start := w.a.cfg.start(time.Now())
	for f := range fs {
		if _, ok := w.cur[f]; !ok {
			w.cur[f] = start
		}
	}
	for ctx.Err() == nil {
		now := float64(time.Now().UnixNano()) / 1e9
		from := math.Inf(1)
		for f := range w.fields {
			from = min(from, w.cur[f])
		}
		if math.IsInf(from, 1) {
			return nil // no fields yet
		}
		from = max(from, w.scan)
		if from >= now {
			return nil
		}
		to := min(from+w.window.Seconds(), now)
		var want []string
		for f := range w.fields {
			if w.cur[f] < to {
				want = append(want, f)
			}
		}
		sort.Strings(want)
		res, err := w.a.src.GetData(ctx, w.node, want, from, to, 0)
		if err != nil {
			return err
		}
		fin, anyData := finalized(res)
		if !anyData {
			if to >= now {
				w.scan = to
				return nil
			}
			// Find where the data resumes instead of walking an empty
			// stretch window by window: each probe narrows it 256-fold.
			p, err := w.a.src.GetData(ctx, w.node, want, to, now, probePoints)
			if err != nil {
				return err
			}
			b, ok := firstTime(p)
			if !ok {
				w.scan = now
				return nil
			}
			w.scan = max(to, b)
			w.window = w.a.cfg.Window.D()
			continue
		}
		pts := w.storePoints(res, want, fin, to)
		if err := w.writeBatches(ctx, pts); err != nil {
			return err
		}
		if fin == nil {
			t := newest(res)
			fin = &t
		}
		end := min(*fin, to)
		changed := map[string]float64{}
		for _, f := range want {
			if w.cur[f] < end {
				w.cur[f] = end
				changed[f] = end
			}
		}
		if len(changed) > 0 {
			if err := w.a.cur.save(ctx, w.sink, w.node, changed); err != nil {
				return err
			}
		}
		w.log.Debug("catch-up slice archived", "from", from, "to", to, "points", len(pts), "cursor", end)
		w.scan = max(w.scan, end)
		w.forget(end)
		w.setCursor()
		w.adapt(len(pts))
		if end < to || to >= now {
			return nil
		}
	}
	return ctx.Err()
}

// adapt sizes the next window for about one batch of points.
func (w *worker) adapt(n int) {
	b := w.a.cfg.BatchSize
	switch {
	case n > 4*b && w.window > 2*time.Second:
		w.window /= 2
	case n < b/2 && w.window < 1000*w.a.cfg.Window.D():
		w.window *= 2
	}
	w.window = max(w.window, time.Second)
}

// storePoints returns the points of a catch-up slice that the sink may
// lack: at or after their field's cursor, before finalized_until and the
// slice end, and not already written live.
func (w *worker) storePoints(res *protocol.DataResult, want []string, fin *float64, to float64) []Point {
	var pts []Point
	for _, f := range want {
		fi := w.fields[f]
		vs := res.Data[f]
		tl, ok := res.Timeline[fi.Timeline]
		if !ok {
			continue
		}
		c := w.cur[f]
		for i, t := range tl.T {
			if i >= vs.Len() || t < c || t >= to || fin != nil && t >= *fin {
				continue
			}
			if p, ok := w.point(f, fi, t, vs.At(i).Any()); ok && !w.memo[f][p.Time] {
				pts = append(pts, p)
			}
		}
	}
	return pts
}

// forget drops remembered live times the cursors now cover.
func (w *worker) forget(before float64) {
	ns := protocol.ClampNanos(before)
	for f, m := range w.memo {
		for t := range m {
			if t < ns {
				delete(m, t)
				w.memoN--
			}
		}
		if len(m) == 0 {
			delete(w.memo, f)
		}
	}
}

func (w *worker) writeBatches(ctx context.Context, pts []Point) error {
	for len(pts) > 0 {
		n := min(len(pts), w.a.cfg.BatchSize)
		if err := w.write(ctx, pts[:n]); err != nil {
			return err
		}
		pts = pts[n:]
	}
	return nil
}

// write writes one batch, retrying with backoff until the sink takes it,
// refuses it for good, or ctx ends. The sink's slowness holds the worker
// here: that is the backpressure.
func (w *worker) write(ctx context.Context, pts []Point) error {
	m := w.a.metrics
	bo := backoff{}
	for {
		err := w.sk.Write(ctx, pts)
		if err == nil {
			m.written.WithLabelValues(w.sink).Add(float64(len(pts)))
			w.wrote(pts)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if re, ok := IsRejected(err); ok {
			n := re.Points
			if n <= 0 || n > len(pts) {
				n = len(pts)
			}
			m.rejected.WithLabelValues(w.sink).Add(float64(n))
			m.written.WithLabelValues(w.sink).Add(float64(len(pts) - n))
			m.setError(w.sink, err)
			w.log.Error("sink rejected points", "points", n, "err", err)
			w.wrote(pts)
			return nil
		}
		m.errors.WithLabelValues(w.sink).Inc()
		m.retries.WithLabelValues(w.sink).Inc()
		m.setError(w.sink, err)
		w.log.Warn("sink write failed; retrying", "points", len(pts), "err", err)
		if !sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
}

func (w *worker) wrote(pts []Point) {
	var n int64
	for _, p := range pts {
		n = max(n, p.Time)
	}
	w.mu.Lock()
	w.newest = max(w.newest, n)
	w.mu.Unlock()
}

func (w *worker) setCursor() {
	c := math.Inf(1)
	for _, v := range w.cur {
		c = min(c, v)
	}
	w.mu.Lock()
	w.minCursor = c
	w.mu.Unlock()
}

func (w *worker) setCatchingUp(v bool) {
	w.mu.Lock()
	w.catchingUp = v
	w.mu.Unlock()
}

// NodeStatus is one node's progress into one sink.
type NodeStatus struct {
	Node string `json:"node"`
	// Lag is how old the newest point written is, in seconds.
	Lag float64 `json:"lag_seconds"`
	// Cursor is the oldest of the node's durable cursors (float seconds):
	// every point before it is in the sink. 0 before the first slice.
	Cursor float64 `json:"cursor"`
	// CursorLag is how far the durable cursor is behind now, in seconds.
	CursorLag   float64 `json:"cursor_lag_seconds"`
	CatchingUp  bool    `json:"catching_up"`
	LiveDropped int64   `json:"live_batches_dropped"`
}

func (w *worker) status(now time.Time) NodeStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := NodeStatus{Node: w.node, CatchingUp: w.catchingUp, LiveDropped: w.dropped.Load(), Lag: -1, CursorLag: -1}
	if w.newest > 0 {
		s.Lag = now.Sub(time.Unix(0, w.newest)).Seconds()
	}
	if w.minCursor > 0 && !math.IsInf(w.minCursor, 1) {
		s.Cursor = w.minCursor
		s.CursorLag = float64(now.UnixNano())/1e9 - w.minCursor
	}
	return s
}

// finalized returns the smallest finalized_until of the timelines in r,
// and whether r holds any data.
func finalized(r *protocol.DataResult) (*float64, bool) {
	var fin *float64
	any := false
	for _, tl := range r.Timeline {
		if len(tl.T) > 0 {
			any = true
		}
		if tl.FinalizedUntil != nil && (fin == nil || *tl.FinalizedUntil < *fin) {
			v := *tl.FinalizedUntil
			fin = &v
		}
	}
	return fin, any
}

// firstTime returns the earliest time in r.
func firstTime(r *protocol.DataResult) (float64, bool) {
	t, ok := math.Inf(1), false
	for _, tl := range r.Timeline {
		if len(tl.T) > 0 {
			t, ok = min(t, tl.T[0]), true
		}
	}
	return t, ok
}

// newest returns just after the latest time in r: a node that gives no
// finalized_until (sisock) is taken as final up to what it returned.
func newest(r *protocol.DataResult) float64 {
	t := 0.0
	for _, tl := range r.Timeline {
		for _, v := range tl.T {
			t = max(t, v)
		}
	}
	return math.Nextafter(t, math.Inf(1))
}

// backoff doubles from 100ms up to 30s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else {
		b.d = min(2*b.d, 30*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
