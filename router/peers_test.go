package router

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// heapPeak samples the Go heap in use until stop is closed and returns the
// peak.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// onLeave reports the sessions leaving the realm, seen by a trusted
// in-process session.
func onLeave(t *testing.T, s *Server) <-chan wamp.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.dial(ctx, testNames.Realm, "watcher", trustedRole)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	left := make(chan wamp.ID, 64)
	if err := c.Subscribe(string(wamp.MetaEventSessionOnLeave), func(e *wamp.Event) {
		if len(e.Arguments) > 0 {
			id, _ := wamp.AsID(e.Arguments[0])
			left <- id
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	return left
}

func waitLeave(t *testing.T, left <-chan wamp.ID, id wamp.ID, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-left:
			if got == id {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("session %d still joined after %v", id, timeout)
		}
	}
}

func sessionID(welcome []any) wamp.ID {
	id, _ := wamp.AsID(welcome[1])
	return id
}

// TestHungRawSocketNode has a RawSocket data node stop reading and
// writing with its socket open (as a SIGSTOPped process does): with the
// default keep-alive the router drops it within 2.5 intervals (12.5 s,
// under the 20 s bound), and a call to it then fails instead of hanging,
// while a canary idle as long is pinged and kept.
func TestHungRawSocketNode(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the default keep-alive")
	}
	t.Parallel()
	s := startServer(t, testConfig(t))
	left := onLeave(t, s)
	node := rawRS(t, s, 0xf)
	id := sessionID(node.login("node1", nodeTicket))
	node.send(fmt.Sprintf(`[64,1,{},%q]`, testNames.GetData("node1")))
	node.expect(wamp.REGISTERED)
	// From now on the node neither reads nor answers.
	cons := newCanary(t, s)
	callDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := cons.c.Call(ctx, testNames.GetData("node1"), nil, nil, nil, nil)
		callDone <- err
	}()
	took := waitLeave(t, left, id, 20*time.Second)
	t.Logf("hung RawSocket node dropped after %v (keep_alive %v)", took.Round(time.Millisecond), DefaultKeepAlive)
	select {
	case err := <-callDone:
		if err == nil {
			t.Error("call to the hung node succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Error("call to the dropped node still waiting")
	}
	cons.check(t, "hung node")
}

// TestHungRawSocketConsumer has a RawSocket subscriber stop reading while
// a node publishes 64 KiB events as fast as it can: the router drops it
// once its queue holds more than out_queue_bytes, and the heap stays
// bounded.
func TestHungRawSocketConsumer(t *testing.T) {
	s := startServer(t, testConfig(t))
	left := onLeave(t, s)
	cons := rawRS(t, s, 0xf)
	id := sessionID(cons.join())
	topic := testNames.Data("node1")
	cons.send(fmt.Sprintf(`[32,1,{},%q]`, topic))
	cons.expect(wamp.SUBSCRIBED)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := s.LocalDialer("node1", protocol.RoleDataNode)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	base := heapNow()
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		big := strings.Repeat("x", 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pub.Publish(topic, nil, wamp.List{big}, nil)
			sent.Add(1)
			if sent.Load()%64 == 0 {
				time.Sleep(time.Millisecond) // let the router drain the publisher
			}
		}
	}()
	took := waitLeave(t, left, id, 30*time.Second)
	close(stop)
	wg.Wait()
	growth := int64(<-peak) - int64(base)
	t.Logf("hung consumer dropped after %v and %d events of 64 KiB; heap peak %.1f MB over the start (out_queue_bytes %d MB)",
		took.Round(time.Millisecond), sent.Load(), float64(growth)/1e6, DefaultOutQueueBytes>>20)
	if bound := int64(2 * DefaultOutQueueBytes); growth > bound {
		t.Errorf("heap grew by %d bytes, over %d", growth, bound)
	}
	testutil.Eventually(t, 5*time.Second, "slow_consumer counted", func() bool {
		return strings.Contains(metricsText(t, s), `telemesh_router_dropped_peers_total{reason="slow_consumer"} 1`)
	})
}

// msgpackEmptyArrays is a msgpack CALL of proc whose single argument is a
// list of n empty lists: about one byte on the wire per list, and many
// times that once decoded.
func msgpackEmptyArrays(req byte, proc string, n int) []byte {
	b := []byte{0x95, 0x30, req, 0x80, 0xd9, byte(len(proc))}
	b = append(b, proc...)
	b = append(b, 0x91, 0xdd)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, make([]byte, n)...) // 0x00 is the fixint 0: cheaper to fill, as costly to decode
}

// TestAmplification sends what decodes to much more than its size: a
// 16 MB HELLO (refused from its length prefix, before a byte of it is
// read) and, from four joined sessions at once, CALLs of 1 MiB holding a
// million small items each. The router's heap stays under a stated bound
// and the canary is served throughout.
func TestAmplification(t *testing.T) {
	s := startServer(t, testConfig(t))
	can := newCanary(t, s)
	hello := rawRSWith(t, s, 0xf, 2)
	hello.frame(0, msgpackEmptyArrays(1, "x", 16<<20-20))
	hello.closed()
	can.check(t, "16 MB HELLO")

	base := heapNow()
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := rawRSWith(t, s, 0xf, 2)
			p.frame(0, []byte("\x93\x01\xa8telemesh\x81\xa5roles\x81\xa6caller\x80"))
			if _, err := p.recv(); err != nil { // WELCOME, not JSON: only its arrival matters
				if !strings.Contains(err.Error(), "undecodable") {
					t.Errorf("no WELCOME: %v", err)
					return
				}
			}
			for i := range 3 {
				p.frame(0, msgpackEmptyArrays(byte(i+1), can.proc, DefaultMaxMessageSize-100))
				p.recv() // the RESULT (undecodable here) or an ERROR
			}
		}()
	}
	wg.Wait()
	close(stop)
	growth := int64(<-peak) - int64(base)
	t.Logf("4 sessions x 3 CALLs of 1 MiB (a million items each): heap peak %.1f MB over the start", float64(growth)/1e6)
	const bound = 512 << 20
	if growth > bound {
		t.Errorf("heap grew by %d bytes, over %d", growth, bound)
	}
	can.check(t, "amplification")
}
