package datanodes

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	_ "github.com/telemesh/telemesh/datanodes/driver/sim"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/datanodes/store/sqlite"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

var update = flag.Bool("update", false, "rewrite golden files")

// t0 is the start of the test data: 2023-11-14 22:13:20 UTC.
const t0 = 1_700_000_000

func sec(s float64) int64 { return int64(math.Round(s * 1e9)) }

type env struct {
	t     testing.TB
	url   string
	names protocol.Names
	node  *Node
	st    store.Store
	call  *client.Client
	stop  func()
}

// newEnv starts a nexus router on loopback, a node named "n1" on a
// memstore, and a caller session.
func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	return startNode(t, url, mod)
}

func startNode(t testing.TB, url string, mod func(*Config)) *env {
	t.Helper()
	return startNodeOn(t, url, memstore.New(), mod)
}

// startNodeOn is startNode over the store st.
func startNodeOn(t testing.TB, url string, st store.Store, mod func(*Config)) *env {
	t.Helper()
	cfg := Config{Name: "n1", Description: "test node", Live: LiveConfig{Interval: Duration(20 * time.Millisecond)}}
	if mod != nil {
		mod(&cfg)
	}
	e := &env{t: t, url: url, names: protocol.DefaultNames(), st: st}
	node, err := New(cfg, dialer(t, url), e.st, nil)
	if err != nil {
		t.Fatal(err)
	}
	node.backoff = wampx.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	e.node = node
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node.Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			e.stop()
		}
	})
	e.call = session(t, url)
	// Both procedures: the node registers get_fields, then get_data.
	waitFor(t, "get_fields and get_data registered", func() bool {
		_, err := e.call.Call(context.Background(), e.names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
		if err != nil {
			return false
		}
		_, err = e.call.Call(context.Background(), e.names.GetData("n1"), nil, wamp.List{[]string{}, 1, 2}, nil, nil)
		return err == nil
	})
	return e
}

func dialer(t testing.TB, url string) wampx.Dialer {
	d, err := wampx.Config{URL: url, Realm: protocol.DefaultRealm, Timeout: 2 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func session(t testing.TB, url string) *client.Client {
	t.Helper()
	c, err := dialer(t, url)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load declares fields a (number, degC, timeline tl, 1s), b (bool, tl) and
// c (string, own timeline), and stores 10 s of a, every other second of b
// and two values of c.
func (e *env) load() {
	s := e.node.Sink()
	s.Declare(
		driver.Field{Name: "a", Description: "field a", Units: "degC", Timeline: "tl", Interval: time.Second},
		driver.Field{Name: "b", Type: protocol.TypeBool, Timeline: "tl", Interval: time.Second},
		driver.Field{Name: "c", Type: protocol.TypeString},
	)
	var rs []protocol.Reading
	for i := range 10 {
		rs = append(rs, protocol.Reading{Field: "a", Time: sec(t0 + float64(i)), Value: float64(i)})
		if i%2 == 0 {
			rs = append(rs, protocol.Reading{Field: "b", Time: sec(t0 + float64(i)), Value: i%4 == 0})
		}
	}
	rs = append(rs, protocol.Reading{Field: "c", Time: sec(t0 + 0.5), Value: "x"}, protocol.Reading{Field: "c", Time: sec(t0 + 5.5), Value: "y"})
	s.Emit(rs...)
}

func (e *env) getData(args wamp.List, kw wamp.Dict) (map[string]any, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e.call.Call(ctx, e.names.GetData("n1"), nil, args, kw, nil)
	if err != nil {
		return nil, err
	}
	return jsonRoundTrip(e.t, res.Arguments[0]), nil
}

func jsonRoundTrip(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Fatalf("%s differs:\n got %s\nwant %s", name, got, want)
	}
}

func TestGetFields(t *testing.T) {
	e := newEnv(t, nil)
	e.load()
	res, err := e.call.Call(context.Background(), e.names.GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := wamp.AsList(res.Arguments[0])
	if len(res.Arguments) != 1 || len(pair) != 2 {
		t.Fatalf("get_fields returned %v, want one argument [field, timeline]", res.Arguments)
	}
	golden(t, "get_fields.json", pair)

	// A range without readings still lists the fields the drivers declare.
	res, err = e.call.Call(context.Background(), e.names.GetFields("n1"), nil, wamp.List{1000, 2000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ = wamp.AsList(res.Arguments[0])
	if f, _ := wamp.AsDict(pair[0]); len(f) != 3 {
		t.Fatalf("declared fields missing: %v", res.Arguments[0])
	}
}

func TestGetData(t *testing.T) {
	e := newEnv(t, nil)
	e.load()
	raw := `{"data":{"a":[0,1,2,3,4,5,6,7,8,9],"b":[true,null,false,null,true,null,false,null,true,null]},` +
		`"timeline":{"tl":{"finalized_until":1700000010,"t":[1700000000,1700000001,1700000002,1700000003,1700000004,1700000005,1700000006,1700000007,1700000008,1700000009]}}}`
	strided := `{"data":{"a":[0.5,2.5,4.5,6.5,8.5],"b":[true,false,true,false,true]},` +
		`"timeline":{"tl":{"finalized_until":1700000010,"t":[1700000000,1700000002,1700000004,1700000006,1700000008]}}}`
	cases := []struct {
		name string
		args wamp.List
		kw   wamp.Dict
		want string
	}{
		{"three positionals", wamp.List{[]string{"a", "b"}, t0, t0 + 10}, nil, raw},
		{"null min_stride", wamp.List{[]string{"a", "b"}, t0, t0 + 10, nil}, nil, raw},
		{"min_stride positional", wamp.List{[]string{"a", "b"}, t0, t0 + 10, 2}, nil, strided},
		{"min_stride keyword", wamp.List{[]string{"a", "b"}, t0, t0 + 10}, wamp.Dict{"min_stride": 2.0}, strided},
		{"max_points", wamp.List{[]string{"a", "b"}, t0, t0 + 10}, wamp.Dict{"max_points": 6}, strided},
		{"max_points 1", wamp.List{[]string{"a"}, t0, t0 + 10}, wamp.Dict{"max_points": 1, "agg": "last"},
			`{"data":{"a":[9]},"timeline":{"tl":{"finalized_until":1700000010,"t":[1700000000]}}}`},
		{"half open", wamp.List{[]string{"a"}, t0 + 2, t0 + 4}, nil,
			`{"data":{"a":[2,3]},"timeline":{"tl":{"finalized_until":1700000004,"t":[1700000002,1700000003]}}}`},
		{"agg max", wamp.List{[]string{"a"}, t0, t0 + 10, 5}, wamp.Dict{"agg": "max"},
			`{"data":{"a":[4,9]},"timeline":{"tl":{"finalized_until":1700000010,"t":[1700000000,1700000005]}}}`},
		{"minmax", wamp.List{[]string{"a"}, t0, t0 + 10, 5}, wamp.Dict{"agg": "minmax"},
			`{"data":{"a":[0,4,5,9]},"timeline":{"tl":{"finalized_until":1700000010,"t":[1700000000,1700000000,1700000005,1700000005]}}}`},
		{"string field and own timeline", wamp.List{[]string{"c", "a"}, t0, t0 + 1}, nil,
			`{"data":{"a":[0],"c":["x"]},"timeline":{"c":{"finalized_until":1700000001,"t":[1700000000.5]},"tl":{"finalized_until":1700000001,"t":[1700000000]}}}`},
		{"no data in range", wamp.List{[]string{"a"}, t0 + 100, t0 + 200}, nil, `{"data":{},"timeline":{}}`},
		{"empty field list", wamp.List{[]string{}, t0, t0 + 10}, nil, `{"data":{},"timeline":{}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := e.getData(c.args, c.kw)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != c.want {
				t.Fatalf("got  %s\nwant %s", b, c.want)
			}
		})
	}
}

func TestGetDataMalformed(t *testing.T) {
	e := newEnv(t, nil)
	e.load()
	ok := wamp.List{[]string{"a"}, t0, t0 + 10}
	cases := []struct {
		name string
		args wamp.List
		kw   wamp.Dict
		kind protocol.Kind
	}{
		{"no arguments", wamp.List{}, nil, protocol.InvalidArgument},
		{"two arguments", wamp.List{[]string{"a"}, t0}, nil, protocol.InvalidArgument},
		{"five arguments", wamp.List{[]string{"a"}, t0, t0 + 1, 1, 1}, nil, protocol.InvalidArgument},
		{"fields not a list", wamp.List{"a", t0, t0 + 1}, nil, protocol.InvalidArgument},
		{"field not a string", wamp.List{[]any{"a", 3}, t0, t0 + 1}, nil, protocol.InvalidArgument},
		{"start a string", wamp.List{[]string{"a"}, "yesterday", t0 + 1}, nil, protocol.InvalidArgument},
		{"end null", wamp.List{[]string{"a"}, t0, nil}, nil, protocol.InvalidArgument},
		{"start NaN", wamp.List{[]string{"a"}, math.NaN(), t0}, nil, protocol.InvalidArgument},
		{"end inf", wamp.List{[]string{"a"}, t0, math.Inf(1)}, nil, protocol.InvalidArgument},
		{"end before start", wamp.List{[]string{"a"}, t0 + 10, t0}, nil, protocol.InvalidArgument},
		{"unknown field", wamp.List{[]string{"a", "nope"}, t0, t0 + 1}, nil, protocol.UnknownField},
		{"invalid field name", wamp.List{[]string{"a b"}, t0, t0 + 1}, nil, protocol.UnknownField},
		{"negative min_stride", wamp.List{[]string{"a"}, t0, t0 + 1, -1}, nil, protocol.InvalidArgument},
		{"string min_stride", wamp.List{[]string{"a"}, t0, t0 + 1, "1s"}, nil, protocol.InvalidArgument},
		{"min_stride over int64 nanoseconds", wamp.List{[]string{"a"}, t0, t0 + 1, 1e10}, nil, protocol.InvalidArgument},
		{"min_stride twice", wamp.List{[]string{"a"}, t0, t0 + 1, 1}, wamp.Dict{"min_stride": 2}, protocol.InvalidArgument},
		{"zero max_points", ok, wamp.Dict{"max_points": 0}, protocol.InvalidArgument},
		{"negative max_points", ok, wamp.Dict{"max_points": -5}, protocol.InvalidArgument},
		{"fractional max_points", ok, wamp.Dict{"max_points": 2.5}, protocol.InvalidArgument},
		{"minmax in one point", ok, wamp.Dict{"max_points": 1, "agg": "minmax"}, protocol.InvalidArgument},
		{"bad agg", ok, wamp.Dict{"agg": "median"}, protocol.InvalidArgument},
		{"agg not a string", ok, wamp.Dict{"agg": 3}, protocol.InvalidArgument},
		{"unknown keyword", ok, wamp.Dict{"limit": 3}, protocol.InvalidArgument},
		{"huge raw range", wamp.List{[]string{"a"}, 1, 1e300}, wamp.Dict{"max_points": 0}, protocol.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.getData(c.args, c.kw)
			if err == nil {
				t.Fatal("call succeeded")
			}
			err = wampx.FromCall(e.names, err)
			if k := protocol.KindOf(err); k != c.kind {
				t.Fatalf("kind %s (%v), want %s", k, err, c.kind)
			}
			if c.kind == protocol.UnknownField && !strings.Contains(err.Error(), "nope") && !strings.Contains(err.Error(), "a b") {
				t.Fatalf("error %q does not name the field", err)
			}
		})
	}
	// get_fields checks its arguments too.
	for _, args := range []wamp.List{{}, {1}, {"a", 0}, {10, 5}, {1, 0, 3}} {
		_, err := e.call.Call(context.Background(), e.names.GetFields("n1"), nil, args, nil, nil)
		if k := protocol.KindOf(wampx.FromCall(e.names, err)); k != protocol.InvalidArgument {
			t.Errorf("get_fields%v: kind %s, want invalid_argument", args, k)
		}
	}
	// The node keeps serving, and huge ranges are fine downsampled.
	if _, err := e.getData(ok, nil); err != nil {
		t.Fatalf("node stopped serving: %v", err)
	}
	got, err := e.getData(wamp.List{[]string{"a"}, 1, 1e300}, wamp.Dict{"max_points": 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got["data"].(map[string]any)["a"].([]any)); n != 1 {
		t.Fatalf("huge range gave %d points, want 1", n)
	}
}

// TestDownsampling checks that spikes survive minmax and that max_points
// is never exceeded, whatever the alignment of the range.
func TestDownsampling(t *testing.T) {
	e := newEnv(t, nil)
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "x", Interval: 100 * time.Millisecond})
	var rs []protocol.Reading
	const n = 20000
	for i := range n {
		v := math.Sin(float64(i) / 300)
		if i == 12345 {
			v = 1000
		}
		if i == 777 {
			v = -1000
		}
		rs = append(rs, protocol.Reading{Field: "x", Time: sec(t0) + int64(i)*int64(100*time.Millisecond), Value: v})
	}
	s.Emit(rs...)
	got, err := e.getData(wamp.List{[]string{"x"}, t0, t0 + n/10}, wamp.Dict{"max_points": 100, "agg": "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	vals := got["data"].(map[string]any)["x"].([]any)
	var hi, lo bool
	for _, v := range vals {
		hi = hi || v.(float64) == 1000
		lo = lo || v.(float64) == -1000
	}
	if !hi || !lo {
		t.Fatalf("spikes lost by minmax: max %v min %v", hi, lo)
	}
	for _, agg := range []string{"mean", "min", "max", "last", "minmax"} {
		for _, mp := range []int{1, 2, 3, 7, 100, 999, 5000} {
			if agg == "minmax" && mp == 1 {
				continue
			}
			for _, off := range []float64{0, 0.05, 3.3, 17.77} {
				got, err := e.getData(wamp.List{[]string{"x"}, t0 + off, t0 + n/10 - off/2}, wamp.Dict{"max_points": mp, "agg": agg})
				if err != nil {
					t.Fatal(err)
				}
				tl := got["timeline"].(map[string]any)["x"].(map[string]any)["t"].([]any)
				if len(tl) > mp || len(tl) == 0 {
					t.Fatalf("agg %s max_points %d offset %v: %d points", agg, mp, off, len(tl))
				}
			}
		}
	}
}

// TestTooMuchDataAndProgressive runs on memstore, which answers slice by
// slice with Query, and on SQLite, which streams from its iterator.
func TestTooMuchDataAndProgressive(t *testing.T) {
	for _, name := range []string{"memstore", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			var st store.Store = memstore.New()
			if name == "sqlite" {
				s, err := sqlite.Open(filepath.Join(t.TempDir(), "n.db"), sqlite.Options{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				st = s
			}
			url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
			testTooMuchDataAndProgressive(t, startNodeOn(t, url, st, func(c *Config) { c.MaxReplyBytes = 4096 })) // 102 points
		})
	}
}

func testTooMuchDataAndProgressive(t *testing.T, e *env) {
	limit := 4096 / BytesPerPoint
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "x", Timeline: "tl", Interval: time.Second}, driver.Field{Name: "y", Timeline: "tl", Interval: time.Second})
	var rs []protocol.Reading
	for i := range 1000 {
		rs = append(rs, protocol.Reading{Field: "x", Time: sec(t0 + float64(i)), Value: float64(i)})
		if i%3 == 0 {
			rs = append(rs, protocol.Reading{Field: "y", Time: sec(t0 + float64(i)), Value: float64(-i)})
		}
	}
	s.Emit(rs...)
	args := wamp.List{[]string{"x", "y"}, t0, t0 + 1000}

	_, err := e.getData(args, nil)
	pe := &protocol.Error{}
	if !errorAs(wampx.FromCall(e.names, err), &pe) || pe.Kind != protocol.TooMuchData {
		t.Fatalf("got %v, want too_much_data", err)
	}
	if p, _ := wamp.AsInt64(pe.Details["points"]); p != 1334 {
		t.Errorf("details %v: want points 1334", pe.Details)
	}
	if l, _ := wamp.AsInt64(pe.Details["limit"]); int(l) != limit || !strings.Contains(pe.Message, "max_points") {
		t.Errorf("details %v message %q", pe.Details, pe.Message)
	}
	// Downsampled, the same range fits.
	if _, err := e.getData(args, wamp.Dict{"max_points": 50}); err != nil {
		t.Fatal(err)
	}

	var slices []map[string]any
	res, err := e.call.Call(context.Background(), e.names.GetData("n1"), nil, args, nil, func(r *wamp.Result) {
		slices = append(slices, jsonRoundTrip(t, r.Arguments[0]))
	})
	if err != nil {
		t.Fatal(err)
	}
	slices = append(slices, jsonRoundTrip(t, res.Arguments[0]))
	if len(slices) < 10 {
		t.Fatalf("%d slices for 1334 points at %d per reply", len(slices), limit)
	}
	var xs, ys, ts []any
	for _, sl := range slices {
		d := sl["data"].(map[string]any)
		if len(d) == 0 {
			continue
		}
		tl := sl["timeline"].(map[string]any)["tl"].(map[string]any)["t"].([]any)
		if y, ok := d["y"].([]any); ok {
			ys = append(ys, y...)
		} else {
			for range tl {
				ys = append(ys, nil)
			}
		}
		x := d["x"].([]any)
		if len(x)+len(x) > limit*2 {
			t.Fatalf("slice of %d points over the limit %d", len(x), limit)
		}
		xs, ts = append(xs, x...), append(ts, tl...)
	}
	if len(xs) != 1000 || len(ts) != 1000 || len(ys) != 1000 {
		t.Fatalf("streamed %d x, %d y, %d t; want 1000 each", len(xs), len(ys), len(ts))
	}
	for i := range 1000 {
		if xs[i].(float64) != float64(i) || ts[i].(float64) != float64(t0+i) {
			t.Fatalf("slice data out of order at %d: t %v x %v", i, ts[i], xs[i])
		}
		if (i%3 == 0) != (ys[i] != nil) {
			t.Fatalf("y misaligned at %d: %v", i, ys[i])
		}
	}
}

func errorAs(err error, pe **protocol.Error) bool {
	e, ok := err.(*protocol.Error)
	if ok {
		*pe = e
	}
	return ok
}

func TestLiveBatches(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Drivers = []DriverConfig{{Type: "sim", Block: []byte("interval: 10ms\nseed: 3\n")}}
	})
	var mu sync.Mutex
	var events []map[string]any
	got := make(chan struct{}, 100)
	if err := e.call.Subscribe(e.names.Data("n1"), func(ev *wamp.Event) {
		mu.Lock()
		events = append(events, jsonRoundTrip(t, ev.Arguments[0]))
		mu.Unlock()
		got <- struct{}{}
	}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no live batch")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range events {
		d := ev["data"].(map[string]any)
		tl := ev["timeline"].(map[string]any)["sim"].(map[string]any)
		ts := tl["t"].([]any)
		if len(d) != 3 || len(ts) == 0 {
			t.Fatalf("bad batch %v", ev)
		}
		for f, v := range d {
			if len(v.([]any)) != len(ts) {
				t.Fatalf("field %s has %d values for %d times", f, len(v.([]any)), len(ts))
			}
		}
		if _, ok := tl["finalized_until"]; !ok {
			t.Fatal("no finalized_until")
		}
	}
	if l := e.node.Latest(); len(l) != 3 {
		t.Fatalf("latest values: %v", l)
	}
}

// fakeHub registers data_node.add like a hub and counts announcements.
func fakeHub(t *testing.T, url string, accept bool) *atomic.Int64 {
	t.Helper()
	c := session(t, url)
	n := protocol.DefaultNames()
	var adds atomic.Int64
	if err := c.Register(n.DataNodeAdd(), func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		if len(inv.Arguments) != 3 || inv.Arguments[0] != "n1" || inv.ArgumentsKw["fields"] == nil || inv.ArgumentsKw["meta"] == nil {
			return client.InvokeResult{Err: "test.error.bad_add", Args: wamp.List{fmt.Sprint(inv.Arguments, inv.ArgumentsKw)}}
		}
		adds.Add(1)
		return client.InvokeResult{Args: wamp.List{accept}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	return &adds
}

func TestAnnounce(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	e := startNode(t, url, nil)
	// No hub yet: the node keeps trying; once one registers it is announced.
	adds := fakeHub(t, url, true)
	select {
	case <-e.node.Announced():
	case <-time.After(10 * time.Second):
		t.Fatal("not announced to a late hub")
	}
	first := adds.Load()
	if err := e.call.Publish(e.names.HubReady(), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "re-announcement on hub.ready", func() bool { return adds.Load() > first })

	var subtracted atomic.Bool
	h := session(t, url)
	if err := h.Register(e.names.DataNodeSubtract(), func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		subtracted.Store(len(inv.Arguments) == 2 && inv.Arguments[0] == "n1")
		return client.InvokeResult{}
	}, nil); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if !subtracted.Load() {
		t.Fatal("no data_node.subtract on shutdown")
	}
}

func TestReadingsWhileRouterDown(t *testing.T) {
	sr := routertest.NewRestartable(t, routertest.Config(protocol.DefaultRealm))
	url := sr.URL()
	e := startNode(t, url, nil)
	s := e.node.Sink()
	s.Declare(driver.Field{Name: "x"})
	s.Emit(protocol.Reading{Field: "x", Time: sec(t0), Value: 1.0})

	sr.Stop()
	waitFor(t, "session lost", func() bool { c := e.node.sess.Load(); return c == nil || !c.Connected() })
	for i := 1; i < 100; i++ {
		s.Emit(protocol.Reading{Field: "x", Time: sec(t0 + float64(i)), Value: float64(i)})
	}
	sr.Start()
	e.call = session(t, url)
	var got map[string]any
	waitFor(t, "node back", func() bool {
		var err error
		got, err = e.getData(wamp.List{[]string{"x"}, t0, t0 + 100}, nil)
		return err == nil
	})
	if n := len(got["data"].(map[string]any)["x"].([]any)); n != 100 {
		t.Fatalf("after reconnect get_data has %d readings, want 100", n)
	}
}

func TestSinkRejectsBadInput(t *testing.T) {
	st := memstore.New()
	n, err := New(Config{Name: "n1"}, func(context.Context) (*client.Client, error) { return nil, fmt.Errorf("offline") }, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := n.Sink()
	s.Declare(driver.Field{Name: "bad name"}, driver.Field{Name: "ok", Type: "complex"}, driver.Field{Name: "n"})
	s.Emit(
		protocol.Reading{Field: "n", Time: 1, Value: "text"},
		protocol.Reading{Field: "n", Time: 2, Value: math.NaN()},
		protocol.Reading{Field: "undeclared", Time: 3, Value: 1.0},
		protocol.Reading{Field: "n", Time: 4, Value: 7}, // integers widen
	)
	if got := n.Stats().SinkErrors; got != 5 {
		t.Fatalf("%d sink errors, want 5", got)
	}
	series, err := n.query(context.Background(), request{fields: []string{"n"}, start: 0, end: 10}, 0, 10, 0)
	if err != nil || len(series) != 1 || series[0].Values.Len() != 1 || series[0].Values.Nums[0] != 7.0 {
		t.Fatalf("stored %v, %v", series, err)
	}
}
