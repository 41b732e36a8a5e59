package datanodes

import (
	"context"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// cutter is a TCP proxy in front of a router whose connections a test can
// cut, as a router restart or a network failure does.
type cutter struct {
	l        net.Listener
	target   string
	accepted atomic.Int64
	// frozen stops forwarding without closing: a peer that takes no more
	// bytes.
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutter(t testing.TB, target string) *cutter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, target: target}
	t.Cleanup(func() { l.Close(); c.cut() })
	go c.serve()
	return c
}

func (c *cutter) serve() {
	for {
		in, err := c.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		c.accepted.Add(1)
		go func() { c.pipe(out, in); out.Close() }()
		go func() { c.pipe(in, out); in.Close() }()
	}
}

// pipe copies src to dst, holding bytes while the proxy is frozen.
func (c *cutter) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for c.frozen.Load() {
			time.Sleep(time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cut closes every connection through the proxy.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		cn.Close()
	}
	c.conns = nil
}

// TestNoWedgeOnSessionLoss cuts a node's connection again and again while
// its live publisher sends as fast as it can, and checks that the node
// comes back every time: a send blocked on a dead session must never keep
// the node from reconnecting (it used to hold the send lock the reconnect
// path waited for, and the node never came back), and the node stops
// promptly at the end.
func TestNoWedgeOnSessionLoss(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	proxy := newCutter(t, url[len("ws://"):len(url)-len("/ws")])
	purl := "ws://" + proxy.l.Addr().String() + "/ws"
	cfg := Config{Name: "n1", Live: LiveConfig{Interval: Duration(time.Millisecond), MaxBatch: 1}}
	d, err := wampx.Config{URL: purl, Realm: protocol.DefaultRealm, Timeout: 2 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, d, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.backoff = wampx.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	// A producer that keeps the live publisher sending.
	s := n.Sink()
	s.Declare(driver.Field{Name: "x"})
	pctx, stopProducer := context.WithCancel(ctx)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for pctx.Err() == nil {
			rs := make([]protocol.Reading, 50)
			now := time.Now().UnixNano()
			for i := range rs {
				rs[i] = protocol.Reading{Field: "x", Time: now + int64(i), Value: float64(i)}
			}
			s.Emit(rs...)
			time.Sleep(100 * time.Microsecond)
		}
	}()

	caller := session(t, url)
	registered := func() bool {
		_, err := caller.Call(context.Background(), protocol.DefaultNames().GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
		return err == nil
	}
	iterations := 40
	if testing.Short() {
		iterations = 15
	}
	for i := range iterations {
		before := proxy.accepted.Load()
		testutil.Eventually(t, 10*time.Second, "node registered", registered)
		sent := n.Stats().LiveSent
		testutil.Eventually(t, 10*time.Second, "live readings published", func() bool { return n.Stats().LiveSent > sent })
		proxy.cut()
		deadline := time.Now().Add(10 * time.Second)
		for proxy.accepted.Load() == before || !registered() {
			if time.Now().After(deadline) {
				t.Fatalf("iteration %d: node never reconnected after its session was cut (wedged)", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stopProducer()
	<-produced
	t.Logf("%d cuts survived; stopped in %v", iterations, stopWithin(t, cancel, done, 10*time.Second))
}

// stuck is a driver that ignores its context: it never returns.
type stuck struct{}

func (stuck) Run(context.Context, driver.Sink) error { select {} }

func init() {
	driver.Register(driver.Registration{Name: "test-stuck", Usage: "test only", New: func() driver.Driver { return stuck{} }})
}

// TestStopBounded stops a node whose driver ignores its context and whose
// router stopped reading (so the goodbye to the hub and the session's
// close cannot complete): Run still returns within the stop bound, having
// flushed the store.
func TestStopBounded(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	proxy := newCutter(t, url[len("ws://"):len(url)-len("/ws")])
	purl := "ws://" + proxy.l.Addr().String() + "/ws"
	cfg := Config{Name: "n1", StopTimeout: Duration(time.Second), Drivers: []DriverConfig{{Type: "test-stuck"}}}
	d, err := wampx.Config{URL: purl, Realm: protocol.DefaultRealm, Timeout: 30 * time.Second}.Dialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	n, err := New(cfg, d, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	caller := session(t, url)
	testutil.Eventually(t, 10*time.Second, "node registered", func() bool {
		_, err := caller.Call(context.Background(), protocol.DefaultNames().GetFields("n1"), nil, wamp.List{1, 0}, nil, nil)
		return err == nil
	})
	s := n.Sink()
	s.Declare(driver.Field{Name: "x"})
	s.Emit(protocol.Reading{Field: "x", Time: time.Now().UnixNano(), Value: 1.0})
	proxy.frozen.Store(true)
	took := stopWithin(t, cancel, done, 10*time.Second)
	t.Logf("stopped in %v with a stuck driver and a frozen router (stop_timeout 1s)", took)
	series, err := st.Query(context.Background(), store.Query{Fields: []string{"x"}, Start: 0, End: math.MaxInt64})
	if err != nil || len(series) != 1 || len(series[0].Times) != 1 {
		t.Errorf("stored %v, %v; want the one reading", series, err)
	}
	proxy.frozen.Store(false)
}

// stopWithin cancels a node's Run and fails the test unless Run returns
// without error within d; it returns how long the stop took.
func stopWithin(t *testing.T, cancel func(), done <-chan error, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatalf("node did not stop within %v of its context ending", d)
	}
	return time.Since(start)
}

// slowStore is a store whose Append waits until release closes, as a disk
// that stalls.
type slowStore struct {
	*memstore.Store
	release chan struct{}
}

func (s *slowStore) Append(ctx context.Context, rs []protocol.Series) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Append(ctx, rs)
}

// TestEmitNeverBlocks stalls the store under a running node: Emit returns
// within its bound each time, a full queue is reported as a sink error,
// and once the store recovers every queued reading is stored.
func TestEmitNeverBlocks(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	st := &slowStore{Store: memstore.New(), release: make(chan struct{})}
	n, err := New(Config{Name: "n1"}, dialer(t, url), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.writes, n.emitWait = make(chan write, 2), 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	s := n.Sink()
	s.Declare(driver.Field{Name: "x"})
	testutil.Eventually(t, 10*time.Second, "the store writer running", n.writing.Load)
	for i := range 10 {
		start := time.Now()
		s.Emit(protocol.Reading{Field: "x", Time: int64(i+1) * 1e9, Value: float64(i)})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Emit %d blocked %v on a stalled store", i, d)
		}
		if i == 0 {
			testutil.Eventually(t, 10*time.Second, "the writer to take the first batch", func() bool { return len(n.writes) == 0 })
		}
	}
	// One batch is with the writer, two wait in the queue: the rest were
	// dropped, and said so.
	if got := n.Stats().SinkErrors; got != 7 {
		t.Errorf("%d sink errors for 7 dropped batches", got)
	}
	close(st.release)
	stopWithin(t, cancel, done, 10*time.Second)
	series, err := st.Query(context.Background(), store.Query{Fields: []string{"x"}, Start: 0, End: math.MaxInt64})
	if err != nil || len(series) != 1 || len(series[0].Times) != 3 {
		t.Errorf("stored %v, %v; want the 3 readings not dropped", series, err)
	}
}
