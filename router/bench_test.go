package router

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/wampx"
)

// BenchmarkRPC measures calls through the router over WebSocket with
// msgpack: one callee, 1 or 8 concurrent callers.
func BenchmarkRPC(b *testing.B) {
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprintf("ws-msgpack/callers=%d", callers), func(b *testing.B) {
			s := startServer(b, testConfig(b))
			url := s.WebSocketURL()
			callee := mustDial(b, wampx.Config{URL: url, AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
			proc := testNames.GetData("node1")
			if err := callee.Register(proc, echo, nil); err != nil {
				b.Fatal(err)
			}
			clients := make([]*client.Client, callers)
			for i := range clients {
				clients[i] = mustDial(b, wampx.Config{URL: url})
			}
			lat := make([][]time.Duration, callers)
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					args := wamp.List{"0123456789abcdef"}
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						if _, err := c.Call(ctx, proc, nil, args, nil, nil); err != nil {
							b.Error(err)
							return
						}
						lat[i] = append(lat[i], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkEvents measures events through the router to one subscriber over
// WebSocket with msgpack. The publisher keeps at most a window of events in
// flight, as a data node's batching does; any event lost is an error.
func BenchmarkEvents(b *testing.B) {
	const window = 1024
	s := startServer(b, testConfig(b))
	url := s.WebSocketURL()
	pub := mustDial(b, wampx.Config{URL: url, AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	sub := mustDial(b, wampx.Config{URL: url})
	topic := testNames.Data("node1")
	var got atomic.Int64
	if err := sub.Subscribe(topic, func(*wamp.Event) { got.Add(1) }, nil); err != nil {
		b.Fatal(err)
	}
	args := wamp.List{map[string]any{"t": 1.0, "v": 2.0}}
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		if err := pub.Publish(topic, nil, args, nil); err != nil {
			b.Fatal(err)
		}
		for int64(i)-got.Load() >= window {
			runtime.Gosched()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lost := int64(b.N) - got.Load()
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lost), "lost")
	if lost != 0 {
		b.Errorf("%d of %d events lost", lost, b.N)
	}
}

// BenchmarkIdleSessions reports the heap the router holds for 1000 idle
// anonymous RawSocket sessions. The clients are bare sockets that only
// handshake and join, so the heap growth is the router's.
func BenchmarkIdleSessions(b *testing.B) {
	const n = 1000
	for range b.N {
		s := startServer(b, testConfig(b))
		before := heapInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := joinRaw(s.Addrs().RawSocket, testNames.Realm)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MB/1000-sessions")
		for _, c := range conns {
			c.Close()
		}
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// joinRaw opens a RawSocket connection with JSON and joins realm
// anonymously, returning once WELCOME arrived.
func joinRaw(addr, realm string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	if _, err := c.Write([]byte{0x7f, 0xf1, 0, 0}); err != nil {
		return fail(err)
	}
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return fail(err)
	}
	hello := fmt.Sprintf(`[1,%q,{"roles":{"subscriber":{}}}]`, realm)
	binary.BigEndian.PutUint32(hdr, uint32(len(hello)))
	if _, err := c.Write(append(hdr, hello...)); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, hdr); err != nil {
		return fail(err)
	}
	msg := make([]byte, binary.BigEndian.Uint32(hdr)&0xffffff)
	if _, err := io.ReadFull(c, msg); err != nil {
		return fail(err)
	}
	if len(msg) < 3 || string(msg[:3]) != "[2," {
		return fail(fmt.Errorf("no WELCOME: %s", msg))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
