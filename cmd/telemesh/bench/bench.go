// Package bench measures a telemesh deployment end to end: a data node's
// ingest rate, get_data over a day and over a month (raw and downsampled,
// against the same query made straight on the store), live readings
// delivered without loss, how fast the hub registers many nodes, and the
// node's memory after a month of history.
//
// Self-hosted it runs everything in one process: a nexus router on a
// loopback port, the hub, and a node over a store the caller opens. With a
// router URL it runs the node and the clients against that router instead
// and skips the hub measurement.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/internal/procstat"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/wampx"
	"golang.org/x/sync/errgroup"
)

// Config says what to measure and at which sizes.
type Config struct {
	// Router is the router to use; an empty URL means a router in-process.
	Router wampx.Config
	Names  protocol.Names
	// OpenStore opens the node's store (a fresh one per run).
	OpenStore func() (store.Store, error)
	// Days of history at 1 Hz of Fields fields to ingest (30 and 10 by
	// default); the day and month queries read field f0.
	Days   float64
	Fields int
	// MaxPoints is the downsampled size (1000).
	MaxPoints int
	// LiveReadings is how many readings the live test sends (200,000).
	LiveReadings int
	// HubNodes is how many nodes register with the hub (1000; 0 skips).
	HubNodes int
	// VM is the path of a victoria-metrics binary to measure side by side
	// on the same data; empty skips it.
	VM string
	// Disk, when set, returns the size of the node's database and the
	// bytes each field takes in it.
	Disk func(ctx context.Context) (total int64, perField map[string]int64, err error)
	// Reps is how many times each query is timed on each side (5); the
	// figure is the median.
	Reps int
	// Profile, when set, is called before each query's repetitions with
	// the query's name, and the function it returns after them: a hook to
	// take CPU and allocation profiles of the whole path.
	Profile func(name string) (stop func())
	Logger  *slog.Logger
}

// Result is one measured figure.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

func (c *Config) defaults() {
	if c.Days <= 0 {
		c.Days = 30
	}
	if c.Fields <= 0 {
		c.Fields = 10
	}
	if c.MaxPoints <= 0 {
		c.MaxPoints = 1000
	}
	if c.LiveReadings <= 0 {
		c.LiveReadings = 200000
	}
	if c.Reps <= 0 {
		c.Reps = 5
	}
	if c.Names.Realm == "" {
		c.Names = protocol.DefaultNames()
	}
	if c.Router.Realm == "" {
		c.Router.Realm = c.Names.Realm
	}
}

// Run measures and returns the results in order.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	log := wampx.Logger(cfg.Logger)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var res []Result
	add := func(name string, v float64, unit, note string) {
		res = append(res, Result{name, v, unit, note})
		log.Info("measured", "name", name, "value", v, "unit", unit)
	}

	selfHosted := cfg.Router.URL == ""
	if selfHosted {
		url, stop, err := startRouter(cfg.Names.Realm)
		if err != nil {
			return nil, err
		}
		defer stop()
		cfg.Router.URL = url
	}
	dial, err := cfg.Router.Dialer(nil)
	if err != nil {
		return nil, err
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	var h *hub.Hub
	if selfHosted {
		if h, err = hub.New(hub.Config{Names: cfg.Names, Dial: dial}); err != nil {
			return nil, err
		}
		// The hub stops after the node, which withdraws on its way out.
		hctx, stopHub := context.WithCancel(context.Background())
		hubDone := make(chan struct{})
		go func() { defer close(hubDone); _ = h.Run(hctx) }()
		defer func() { stopHub(); <-hubDone }()
	}

	st, err := cfg.OpenStore()
	if err != nil {
		return nil, err
	}
	defer st.Close()
	node, err := datanodes.New(datanodes.Config{Name: "bench", Description: "telemesh bench"}, dial, st, nil)
	if err != nil {
		return nil, err
	}
	bg.Add(1)
	go func() { defer bg.Done(); _ = node.Run(ctx) }()
	caller, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	defer caller.Close()
	if err := waitCall(ctx, caller, cfg.Names.GetFields("bench"), wamp.List{1, 0}); err != nil {
		return nil, err
	}

	// Ingest: Days of the bench data (package benchdata) ending now, day
	// by day, into the node and, interleaved, into VictoriaMetrics.
	var vm *vmServer
	if cfg.VM != "" {
		if vm, err = startVM(ctx, cfg.VM); err != nil {
			return nil, err
		}
		defer vm.stop()
	}
	sink := node.Sink()
	var fields []driver.Field
	for i := range cfg.Fields {
		fields = append(fields, driver.Field{Name: benchdata.Name(i), Timeline: "bench", Interval: time.Second})
	}
	sink.Declare(fields...)
	end := time.Now().Truncate(time.Second)
	steps := int64(cfg.Days * 86400)
	first := end.Unix() - steps
	var tmCPU, tmWall, vmCPU, vmWall time.Duration
	total := 0
	batch := make([]protocol.Reading, 0, 10000)
	for day := first; day < end.Unix(); day += 86400 {
		n := min(86400, end.Unix()-day)
		cpu0, t0 := processCPU(), time.Now()
		for k := day; k < day+n; k++ {
			for i := range cfg.Fields {
				batch = append(batch, protocol.Reading{Field: fields[i].Name, Time: k * 1e9, Value: benchdata.Value(i%benchdata.Fields, k)})
			}
			if len(batch) >= 10000 || k == day+n-1 {
				sink.Emit(batch...)
				total += len(batch)
				batch = batch[:0]
			}
		}
		if err := st.Flush(ctx); err != nil {
			return res, err
		}
		tmCPU, tmWall = tmCPU+processCPU()-cpu0, tmWall+time.Since(t0)
		if vm != nil {
			c0, t0 := vm.cpu(), time.Now()
			for k := day; k < day+n; k += 3600 {
				if err := vm.importSeconds(ctx, cfg.Fields, k, min(3600, day+n-k)); err != nil {
					return res, err
				}
			}
			vmCPU, vmWall = vmCPU+vm.cpu()-c0, vmWall+time.Since(t0)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if errs := node.Stats().SinkErrors; errs > 0 {
		return res, fmt.Errorf("%d readings refused during ingest", errs)
	}
	add("ingest", float64(total)/tmWall.Seconds(), "readings/s", fmt.Sprintf("%d readings (%g days x %d fields at 1 Hz) in %s, through the node's sink", total, cfg.Days, cfg.Fields, tmWall.Round(time.Millisecond)))
	perCPU := float64(total) / tmCPU.Seconds()
	note := "whole process (node, router, hub, generator)"
	if vm != nil {
		vmPer := float64(total) / vmCPU.Seconds()
		note += fmt.Sprintf("; VictoriaMetrics %.0f (its server process; the client's JSON not counted); ratio %.2f", vmPer, perCPU/vmPer)
	}
	add("ingest per CPU second", perCPU, "readings/CPU-s", note)

	if cfg.Disk != nil {
		fileBytes, perField, err := cfg.Disk(ctx)
		if err != nil {
			return res, err
		}
		note := "database pages in use, retention applied (the 10 s tier keeps 3 days)"
		if vm != nil {
			vmBytes, err := vm.settle(ctx, time.Unix(first, 0).UTC(), end.UTC())
			if err != nil {
				return res, err
			}
			vmPer := float64(vmBytes) / float64(total)
			note += fmt.Sprintf("; VictoriaMetrics %.3f B (data directory after force_flush and force_merge); ratio %.2f", vmPer, float64(fileBytes)/float64(total)/vmPer)
		}
		add("disk per reading", float64(fileBytes)/float64(total), "B", note)
		var sensor, step int64
		var nSensor, nStep int
		for i, f := range fields {
			if i%benchdata.Fields == benchdata.StepField {
				step += perField[f.Name]
				nStep++
			} else {
				sensor += perField[f.Name]
				nSensor++
			}
		}
		perFieldReadings := float64(total) / float64(cfg.Fields)
		if nSensor > 0 {
			add("disk per reading, sensor-like fields", float64(sensor)/perFieldReadings/float64(nSensor), "B", "chunks and rollups of f0-f8")
		}
		if nStep > 0 {
			add("disk per reading, step field", float64(step)/perFieldReadings/float64(nStep), "B", "chunks and rollups of f9")
		}
	}

	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	add("memory after ingest (Go heap in use)", float64(mem.HeapInuse)/(1<<20), "MiB", fmt.Sprintf("whole process: router, hub and node; Go sys %.0f MiB", float64(mem.Sys)/(1<<20)))
	if rss := procstat.MiB(procstat.Read(0).RSS); rss > 0 {
		add("memory after ingest (resident)", rss, "MiB", "whole process, including SQLite's C heap and page cache")
	}

	// The peak resident size from here on is the peak while serving the
	// queries (Linux resets it on writing 5 to clear_refs).
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil

	// Queries, each timed over get_data, on the store alone and on
	// VictoriaMetrics, in rotating order, medians of Reps.
	endS := protocol.FromTime(end)
	day := min(86400.0, cfg.Days*86400)
	week := min(7*86400.0, cfg.Days*86400)
	all := make([]string, cfg.Fields)
	for i := range all {
		all[i] = fields[i].Name
	}
	queries := []struct {
		name      string
		fields    []string
		span      float64
		maxPoints int
	}{
		{fmt.Sprintf("get_data 1 field, %s, %d points", span(day), cfg.MaxPoints), all[:1], day, cfg.MaxPoints},
		{fmt.Sprintf("get_data %d fields, %s, %d points each", cfg.Fields, span(week), cfg.MaxPoints), all, week, cfg.MaxPoints},
		{fmt.Sprintf("get_data 1 field, %s, %d points", span(cfg.Days*86400), cfg.MaxPoints), all[:1], cfg.Days * 86400, cfg.MaxPoints},
		{fmt.Sprintf("get_data 1 field, %s raw (progressive)", span(day)), all[:1], day, 0},
	}
	for _, q := range queries {
		var e2es, cpus, directs, vms []time.Duration
		var points, replies, dpoints, vpoints int
		start, stop := endS-q.span, endS
		startT, stopT := protocol.ToTime(start), protocol.ToTime(stop)
		w := time.Duration(downsample.Width(protocol.ClampNanos(start), protocol.ClampNanos(stop), 0, int64(q.maxPoints), protocol.AggMean))
		stopProfile := func() {}
		if cfg.Profile != nil {
			stopProfile = cfg.Profile(q.name)
		}
		for rep := range cfg.Reps {
			for k := range 3 {
				switch (rep + k) % 3 {
				case 0:
					c0 := processCPU()
					e2e, p, sl, err := timeGetData(ctx, caller, cfg.Names, q.fields, start, stop, q.maxPoints)
					if err != nil {
						return res, fmt.Errorf("%s: %w", q.name, err)
					}
					cpus = append(cpus, processCPU()-c0)
					e2es, points, replies = append(e2es, e2e), p, sl
				case 1:
					direct, dp, err := timeStore(ctx, st, q.fields, start, stop, q.maxPoints)
					if err != nil {
						return res, fmt.Errorf("%s on the store: %w", q.name, err)
					}
					directs, dpoints = append(directs, direct), dp
				case 2:
					if vm == nil {
						continue
					}
					sel := fmt.Sprintf(`m{field="%s"}`, q.fields[0])
					if len(q.fields) > 1 {
						sel = fmt.Sprintf(`m{field=~"%s"}`, strings.Join(q.fields, "|"))
					}
					t0 := time.Now()
					var p int
					var err error
					if q.maxPoints > 0 {
						p, err = vm.queryRange(ctx, sel, startT, stopT, w)
					} else {
						p, err = vm.export(ctx, sel, startT, stopT)
					}
					if err != nil {
						return res, fmt.Errorf("%s on VictoriaMetrics: %w", q.name, err)
					}
					vms, vpoints = append(vms, time.Since(t0)), p
				}
			}
		}
		stopProfile()
		e2e, direct := median(e2es), median(directs)
		if dpoints != points {
			return res, fmt.Errorf("%s: %d points over WAMP, %d from the store", q.name, points, dpoints)
		}
		// CPU time of the whole process (node, router, client) per call:
		// a figure the machine's other load changes less than the time.
		note := fmt.Sprintf("%d points in %d replies, width %v; CPU %.2f ms a call; store alone %.2f ms", points, replies, w, ms(median(cpus)), ms(direct))
		if vm != nil {
			v := median(vms)
			note += fmt.Sprintf("; VictoriaMetrics %.2f ms (%d points); ratio %.2f", ms(v), vpoints, float64(e2e)/float64(v))
		}
		add(q.name, ms(e2e), "ms", note)
	}
	if m := procstat.Read(0); m.RSS > 0 {
		rss, peak := procstat.MiB(m.RSS), procstat.MiB(m.Peak)
		note := fmt.Sprintf("whole process (node, router, hub); peak %.1f MiB", peak)
		if peakReset {
			note = "whole process (node, router, hub)"
		}
		note += "; " + goMemory()
		if vm != nil {
			vr, vp := vm.rss()
			note += fmt.Sprintf("; VictoriaMetrics %.1f MiB, peak %.1f MiB; ratio %.2f", vr, vp, rss/vr)
		}
		add("memory after queries (resident)", rss, "MiB", note)
		if peakReset {
			add("memory peak while serving the queries (resident)", peak, "MiB", "whole process, the peak resident size from the first query to the last")
		}
	}

	// Live: LiveReadings readings stamped now, sent as fast as the sink
	// takes them, counted on a subscriber.
	rate, delivered, err := live(ctx, cfg, dial, sink, cfg.LiveReadings)
	if err != nil {
		return res, err
	}
	note = "zero loss"
	if delivered != cfg.LiveReadings {
		note = fmt.Sprintf("LOSS: %d of %d delivered", delivered, cfg.LiveReadings)
	}
	add("live readings delivered", rate, "readings/s", note)

	if h != nil && cfg.HubNodes > 0 {
		el, err := registerNodes(ctx, cfg, dial, cfg.HubNodes)
		if err != nil {
			return res, err
		}
		add(fmt.Sprintf("hub registers %d nodes", cfg.HubNodes), ms(el), "ms", fmt.Sprintf("%.0f nodes/s, one session each", float64(cfg.HubNodes)/el.Seconds()))
	}
	cancel()
	return res, nil
}

// goMemory splits the resident size: anonymous memory, of it what the Go
// runtime holds (the heap in use, and the free heap and other runtime
// memory not returned to the OS yet; the rest is SQLite's C heap and
// stacks), and file-backed memory, the mapped binary.
func goMemory() string {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	st := procstat.Read(0)
	return fmt.Sprintf("anonymous %.1f MiB (Go heap in use %.1f MiB, Go memory held besides %.1f MiB), file-backed %.1f MiB (the binary's text)",
		procstat.MiB(st.Anon), mib(m.HeapInuse), mib(m.Sys-m.HeapReleased-m.HeapInuse), procstat.MiB(st.File))
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// processCPU returns this process's CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// listLen returns the length of a decoded list of any element type.
func listLen(v any) int {
	if l, ok := wamp.AsList(v); ok {
		return len(l)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return 0
}

// span names a duration in seconds in days.
func span(s float64) string {
	if s == 86400 {
		return "1 day"
	}
	return fmt.Sprintf("%.3g days", s/86400)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// startRouter serves telemesh's router, as a deployment runs it, for
// realm on a loopback port, anonymous sessions from loopback admins.
func startRouter(realm string) (string, func(), error) {
	srv, err := router.New(router.LoopbackConfig(realm), slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("router: %w", err)
	}
	return srv.WebSocketURL(), func() { cancel(); <-done }, nil
}

func waitCall(ctx context.Context, c *client.Client, proc string, args wamp.List) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Call(ctx, proc, nil, args, nil, nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never answered: %w", proc, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// timeGetData calls get_data on f0, progressively (as a raw day exceeds
// one reply), and returns the time, the points and the replies received.
func timeGetData(ctx context.Context, c *client.Client, n protocol.Names, fields []string, start, end float64, maxPoints int) (time.Duration, int, int, error) {
	var kw wamp.Dict
	if maxPoints > 0 {
		kw = wamp.Dict{"max_points": maxPoints}
	}
	points, replies := 0, 0
	count := func(args wamp.List) {
		replies++
		if len(args) == 0 {
			return
		}
		d, _ := wamp.AsDict(args[0])
		data, _ := wamp.AsDict(d["data"])
		for _, f := range fields {
			points += listLen(data[f])
		}
	}
	t0 := time.Now()
	res, err := c.Call(ctx, n.GetData("bench"), nil, wamp.List{fields, start, end}, kw, func(r *wamp.Result) { count(r.Arguments) })
	if err != nil {
		return 0, 0, 0, wampx.FromCall(n, err)
	}
	count(res.Arguments)
	return time.Since(t0), points, replies, nil
}

func timeStore(ctx context.Context, st store.Store, fields []string, start, end float64, maxPoints int) (time.Duration, int, error) {
	q := store.Query{Fields: fields, Start: protocol.ClampNanos(start), End: protocol.ClampNanos(end), Agg: protocol.AggMean}
	// The node's bucket width, so both answer the same query.
	q.Bucket = downsample.Width(q.Start, q.End, 0, int64(maxPoints), q.Agg)
	t0 := time.Now()
	ss, err := st.Query(ctx, q)
	if err != nil {
		return 0, 0, err
	}
	el := time.Since(t0)
	points := 0
	for _, s := range ss {
		points += len(s.Times)
	}
	return el, points, nil
}

// live sends n readings of f0..f9 stamped now and counts what a
// subscriber receives; it returns delivered readings per second.
func live(ctx context.Context, cfg Config, dial wampx.Dialer, sink driver.Sink, n int) (float64, int, error) {
	sub, err := dial(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer sub.Close()
	var got atomic.Int64
	done := make(chan struct{})
	// Only readings stamped from now on count: the newest history may
	// still be on its way out.
	base := time.Now().UnixNano()
	baseS := protocol.FromNanos(base)
	if err := sub.Subscribe(cfg.Names.Data("bench"), func(ev *wamp.Event) {
		if len(ev.Arguments) == 0 {
			return
		}
		k := countSince(ev.Arguments[0], baseS)
		if got.Add(int64(k)) >= int64(n) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}, nil); err != nil {
		return 0, 0, err
	}
	// The subscription reaches the broker before the first publish: a
	// round trip through the router orders it.
	if err := waitCall(ctx, sub, cfg.Names.GetFields("bench"), wamp.List{1, 0}); err != nil {
		return 0, 0, err
	}
	nf := cfg.Fields
	t0 := time.Now()
	batch := make([]protocol.Reading, 0, 1000)
	for k := 0; k < n; {
		ts := base + int64(k/nf)*1000 // distinct microseconds
		batch = append(batch, protocol.Reading{Field: fmt.Sprintf("f%d", k%nf), Time: ts, Value: float64(k)})
		k++
		if len(batch) == cap(batch) || k == n {
			sink.Emit(batch...)
			batch = batch[:0]
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	el := time.Since(t0)
	return float64(got.Load()) / el.Seconds(), int(got.Load()), nil
}

// registerNodes opens count sessions that each call data_node.add, and
// returns the time until the hub has accepted them all.
func registerNodes(ctx context.Context, cfg Config, dial wampx.Dialer, count int) (time.Duration, error) {
	sessions := make([]*client.Client, count)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range count {
		g.Go(func() error {
			c, err := dial(gctx)
			sessions[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("opening sessions: %w", err)
	}
	t0 := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i, c := range sessions {
		g.Go(func() error {
			name := fmt.Sprintf("bench-%04d", i)
			res, err := c.Call(gctx, cfg.Names.DataNodeAdd(), nil, wamp.List{name, "bench node", c.ID()}, nil, nil)
			if err != nil {
				return wampx.FromCall(cfg.Names, err)
			}
			if ok, _ := res.Arguments[0].(bool); !ok {
				return errors.New("hub refused " + name)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// countSince counts the non-null values of a live batch stamped at or
// after since.
func countSince(batch any, since float64) int {
	d, _ := wamp.AsDict(batch)
	data, _ := wamp.AsDict(d["data"])
	tls, _ := wamp.AsDict(d["timeline"])
	tl, _ := wamp.AsDict(tls["bench"])
	ts, _ := wamp.AsList(tl["t"])
	k := 0
	for _, v := range data {
		l, _ := wamp.AsList(v)
		for i, x := range l {
			if t, _ := wamp.AsFloat64(ts[min(i, len(ts)-1)]); x != nil && t >= since {
				k++
			}
		}
	}
	return k
}
