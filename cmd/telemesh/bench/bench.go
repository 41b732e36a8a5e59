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
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/hub"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/protocol/downsample"
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
	Logger   *slog.Logger
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

	// Ingest: Days of Fields fields at 1 Hz ending now, in batches of 10,000.
	sink := node.Sink()
	var fields []driver.Field
	for i := range cfg.Fields {
		fields = append(fields, driver.Field{Name: fmt.Sprintf("f%d", i), Timeline: "bench", Interval: time.Second})
	}
	sink.Declare(fields...)
	end := time.Now().Truncate(time.Second)
	steps := int64(cfg.Days * 86400)
	first := end.Unix() - steps
	t0 := time.Now()
	batch := make([]protocol.Reading, 0, 10000)
	total := 0
	for k := range steps {
		ts := (first + k) * 1e9
		for i := range cfg.Fields {
			v := float64(k%3600) + float64(i)
			batch = append(batch, protocol.Reading{Field: fields[i].Name, Time: ts, Value: v})
		}
		if len(batch) >= 10000 {
			sink.Emit(batch...)
			total += len(batch)
			batch = batch[:0]
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
	}
	sink.Emit(batch...)
	total += len(batch)
	if err := st.Flush(ctx); err != nil {
		return res, err
	}
	el := time.Since(t0)
	add("ingest", float64(total)/el.Seconds(), "readings/s", fmt.Sprintf("%d readings (%g days x %d fields at 1 Hz) in %s", total, cfg.Days, cfg.Fields, el.Round(time.Millisecond)))
	if errs := node.Stats().SinkErrors; errs > 0 {
		return res, fmt.Errorf("%d readings refused during ingest", errs)
	}

	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	add("memory after ingest (Go heap in use)", float64(mem.HeapInuse)/(1<<20), "MiB", fmt.Sprintf("whole process: router, hub and node; Go sys %.0f MiB", float64(mem.Sys)/(1<<20)))
	if rss, ok := residentMiB(); ok {
		add("memory after ingest (resident)", rss, "MiB", "whole process, including SQLite's C heap and page cache")
	}

	// Queries on f0.
	endS := protocol.FromTime(end)
	day := min(86400.0, cfg.Days*86400)
	queries := []struct {
		name      string
		span      float64
		maxPoints int
	}{
		{fmt.Sprintf("get_data %s raw", span(day)), day, 0},
		{fmt.Sprintf("get_data %s to %d points", span(day), cfg.MaxPoints), day, cfg.MaxPoints},
		{fmt.Sprintf("get_data %s to %d points", span(cfg.Days*86400), cfg.MaxPoints), cfg.Days * 86400, cfg.MaxPoints},
	}
	for _, q := range queries {
		// Median of three, alternating so both see the same cache state.
		var e2es, directs []time.Duration
		var points, replies, dpoints int
		for range 3 {
			e2e, p, sl, err := timeGetData(ctx, caller, cfg.Names, endS-q.span, endS, q.maxPoints)
			if err != nil {
				return res, fmt.Errorf("%s: %w", q.name, err)
			}
			direct, dp, err := timeStore(ctx, st, endS-q.span, endS, q.maxPoints)
			if err != nil {
				return res, fmt.Errorf("%s on the store: %w", q.name, err)
			}
			e2es, directs = append(e2es, e2e), append(directs, direct)
			points, replies, dpoints = p, sl, dp
		}
		e2e, direct := median(e2es), median(directs)
		if dpoints != points {
			return res, fmt.Errorf("%s: %d points over WAMP, %d from the store", q.name, points, dpoints)
		}
		add(q.name, ms(e2e), "ms", fmt.Sprintf("%d points in %d replies; store alone %.1f ms; ratio %.1fx", points, replies, ms(direct), float64(e2e)/float64(direct)))
	}

	// Live: LiveReadings readings stamped now, sent as fast as the sink
	// takes them, counted on a subscriber.
	rate, delivered, err := live(ctx, cfg, dial, sink, cfg.LiveReadings)
	if err != nil {
		return res, err
	}
	note := "zero loss"
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

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// residentMiB reads the process's resident set size where /proc has it.
func residentMiB() (float64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// span names a duration in seconds in days.
func span(s float64) string {
	if s == 86400 {
		return "1 day"
	}
	return fmt.Sprintf("%.3g days", s/86400)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// startRouter serves a nexus router for realm on a loopback port.
func startRouter(realm string) (string, func(), error) {
	r, err := nxrouter.NewRouter(&nxrouter.Config{RealmConfigs: []*nxrouter.RealmConfig{{
		URI: wamp.URI(realm), AnonymousAuth: true, AllowDisclose: true,
	}}}, wampx.StdLog(nil))
	if err != nil {
		return "", nil, err
	}
	ws := nxrouter.NewWebsocketServer(r)
	ws.OutQueueSize = 4096
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: ws}
	go srv.Serve(l)
	return "ws://" + l.Addr().String() + "/ws", func() { srv.Close(); r.Close() }, nil
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
func timeGetData(ctx context.Context, c *client.Client, n protocol.Names, start, end float64, maxPoints int) (time.Duration, int, int, error) {
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
		l, _ := wamp.AsList(data["f0"])
		points += len(l)
	}
	t0 := time.Now()
	res, err := c.Call(ctx, n.GetData("bench"), nil, wamp.List{[]string{"f0"}, start, end}, kw, func(r *wamp.Result) { count(r.Arguments) })
	if err != nil {
		return 0, 0, 0, wampx.FromCall(n, err)
	}
	count(res.Arguments)
	return time.Since(t0), points, replies, nil
}

func timeStore(ctx context.Context, st store.Store, start, end float64, maxPoints int) (time.Duration, int, error) {
	q := store.Query{Fields: []string{"f0"}, Start: protocol.ToNanos(start), End: protocol.ToNanos(end), Agg: protocol.AggMean}
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
