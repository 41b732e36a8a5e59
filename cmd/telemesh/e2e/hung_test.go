package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/wampx"
)

// TestHungRawSocketNode SIGSTOPs a node connected over RawSocket (issue
// 13, must hold): the router's pings find it silent and drop it within
// 20 s, the hub lists it no more, a call made while it hung returns an
// error when it is dropped and calls after that fail at once; a second
// RawSocket node that answers stays listed, and the stopped node, once
// continued, comes back. The drop times are logged.
func TestHungRawSocketNode(t *testing.T) {
	const dropBound = 20 * time.Second
	s := newStack(t, "telemesh")
	rs := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	s.router("--rs-listen", rs)
	s.hub()
	tcp := "tcp://" + rs
	victim := s.nodeWith("hung", nodeOpts{interval: 200 * time.Millisecond, url: tcp})
	s.nodeWith("awake", nodeOpts{interval: 200 * time.Millisecond, url: tcp})
	cl := s.client()
	before := waitNodes(t, cl, "hung", "awake")
	waitReadings(t, cl, "hung")
	t.Cleanup(func() { victim.signal(syscall.SIGCONT) })

	stopped := time.Now()
	if err := victim.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		err  error
		took time.Duration
	}
	pending := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := cl.GetData(ctx, "hung", consumers.Query{Fields: []string{"temperature"}, Start: -10, End: 0})
		pending <- answer{err, time.Since(stopped)}
	}()
	var dropped time.Duration
	testutil.Eventually(t, dropBound+10*time.Second, "the hub to drop the stopped node", func() bool {
		l := nodes(cl)
		if _, ok := l["hung"]; l != nil && !ok {
			dropped = time.Since(stopped)
			return true
		}
		return false
	})
	t.Logf("SIGSTOPped RawSocket node dropped from the hub's list %v after SIGSTOP", dropped.Round(time.Millisecond))
	if dropped > dropBound {
		t.Errorf("the stopped node was listed for %v, over %v", dropped, dropBound)
	}
	select {
	case a := <-pending:
		t.Logf("get_data made at SIGSTOP returned after %v: %v", a.took.Round(time.Millisecond), a.err)
		if a.err == nil {
			t.Error("get_data to the stopped node succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Error("get_data made at SIGSTOP still pending 10s after the node was dropped")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := cl.GetData(ctx, "hung", consumers.Query{Fields: []string{"temperature"}, Start: -10, End: 0})
	cancel()
	took := time.Since(began)
	t.Logf("get_data after the drop failed in %v: %v", took.Round(time.Millisecond), err)
	if err == nil || took > 5*time.Second {
		t.Errorf("get_data after the drop: %v after %v; want an error at once", err, took)
	}
	if l := nodes(cl); l["awake"].Session != before["awake"].Session {
		t.Errorf("the RawSocket node that answers pings was dropped too: %+v", l["awake"])
	}

	// Continued, the node reconnects by itself and serves again.
	resumed := time.Now()
	victim.signal(syscall.SIGCONT)
	testutil.Eventually(t, 30*time.Second, "the continued node to be listed again", func() bool {
		n, ok := nodes(cl)["hung"]
		return ok && n.Session != before["hung"].Session
	})
	t.Logf("continued after %v stopped, the node was listed again in %v", resumed.Sub(stopped).Round(time.Millisecond), time.Since(resumed).Round(time.Millisecond))
	waitReadings(t, cl, "hung")
}

// hungConsumerRouter is the router file of TestHungRawSocketConsumer: a
// small out_queue_bytes, the default keep-alive, anonymous admins.
const hungConsumerRouter = `listeners:
  websocket: {address: "%s", path: /ws}
  rawsocket: {address: "%s"}
keep_alive: 5s
out_queue_bytes: %d
realms:
  - name: telemesh
    roles:
      - name: admin
        permissions:
          - {uri: "", match: prefix, allow: {call: true, register: true, publish: true, subscribe: true}}
    auth:
      anonymous: {role: admin, loopback_only: true}
`

// TestHungRawSocketConsumer floods a busy topic whose RawSocket
// subscriber has hung (issue 13, must hold): a `telemesh tail` process
// SIGSTOPped, and a raw TCP client that stops reading. The router drops
// the subscriber as a slow consumer once its queue passes out_queue_bytes,
// well before the pings would, and its memory stays within the bound
// plus the router's own working set. Drop times and the router's memory
// are logged.
func TestHungRawSocketConsumer(t *testing.T) {
	const bound = 4 << 20
	for _, tc := range []struct {
		name string
		// hang subscribes to topic over RawSocket at addr and hangs.
		hang func(t *testing.T, s *stack, addr, topic string)
	}{
		{"stopped tail process", func(t *testing.T, s *stack, addr, topic string) {
			tail := start(t, "tail", "tail", "--url", "tcp://"+addr, "--format", "csv", "busy")
			t.Cleanup(func() { tail.signal(syscall.SIGKILL) })
			testutil.Eventually(t, 20*time.Second, "tail to print readings", func() bool {
				return strings.Count(tail.out.String(), "\n") >= 3 || !tail.running()
			})
			if err := tail.signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}},
		{"raw client that stops reading", func(t *testing.T, s *stack, addr, topic string) {
			c := rawSubscriber(t, addr, s.names.Realm, topic)
			t.Cleanup(func() { c.Close() })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, "telemesh")
			rs := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
			cfg := filepath.Join(s.dir, "router.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, hungConsumerRouter, s.addr, rs, bound), 0o600); err != nil {
				t.Fatal(err)
			}
			r := s.router("--config", cfg, "--rs-listen", rs)
			s.node("busy", 200*time.Millisecond)
			cl := s.client()
			waitReadings(t, cl, "busy")
			topic := s.names.Data("busy")
			tc.hang(t, s, rs, topic)

			metricsURL := "http://" + s.addr + "/metrics"
			dropped := func() float64 {
				m, _ := metrics(metricsURL)
				return m[`telemesh_router_dropped_peers_total{reason="slow_consumer"}`]
			}
			before := dropped()
			base := rssKB(r.pid())
			hung := time.Now()
			ctx, stopFlood := context.WithCancel(context.Background())
			var sent atomic.Int64
			var wg sync.WaitGroup
			defer func() { stopFlood(); wg.Wait() }()
			wg.Go(func() { sent.Store(flood(ctx, t, s, topic)) })
			var peak atomic.Int64
			wg.Go(func() {
				for ctx.Err() == nil {
					peak.Store(max(peak.Load(), int64(rssKB(r.pid()))))
					time.Sleep(10 * time.Millisecond)
				}
			})
			var took time.Duration
			testutil.Eventually(t, 20*time.Second, "the router to drop the hung subscriber as a slow consumer", func() bool {
				took = time.Since(hung)
				return dropped() > before
			})
			stopFlood()
			wg.Wait()
			grew := (peak.Load() - int64(base)) << 10
			t.Logf("hung RawSocket subscriber dropped as a slow consumer %v after the flood began (%d MiB published); router RSS %d MiB before, peak %d MiB (+%.1f MiB), out_queue_bytes %d MiB",
				took.Round(time.Millisecond), sent.Load()>>20, base>>10, peak.Load()>>10, float64(grew)/(1<<20), bound>>20)
			// The queue is bounded; GC slack and the publisher's messages in
			// flight come on top, but nothing like the hundreds of MB of an
			// unbounded queue.
			if limit := int64(bound + 64<<20); grew > limit {
				t.Errorf("router RSS grew by %d MiB with a hung subscriber, over the %d MiB bound plus 64 MiB", grew>>20, bound>>20)
			}
			// The router serves on.
			ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cl.GetData(ctx2, "busy", consumers.Query{Fields: []string{"temperature"}, Start: -10, End: 0}); err != nil {
				t.Errorf("get_data after the drop: %v", err)
			}
		})
	}
}

// flood publishes 64 KiB events on topic as fast as the router takes them
// until ctx ends and returns the bytes published.
func flood(ctx context.Context, t *testing.T, s *stack, topic string) int64 {
	d, err := wampx.Config{URL: s.url, Realm: s.names.Realm}.Dialer(nil)
	if err != nil {
		t.Error(err)
		return 0
	}
	c, err := d(ctx)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	payload := strings.Repeat("x", 64<<10)
	var n int64
	for ctx.Err() == nil {
		if err := c.Publish(topic, nil, wamp.List{payload}, nil); err != nil {
			t.Errorf("publishing: %v", err)
			return n
		}
		n += int64(len(payload))
	}
	return n
}

// rawSubscriber joins realm over RawSocket (JSON) at addr by hand,
// subscribes to topic and returns the connection, which the test then
// never reads again.
func rawSubscriber(t *testing.T, addr, realm, topic string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Magic, 16 MiB maximum and JSON; the answer echoes the serializer.
	if _, err := c.Write([]byte{0x7f, 0xf1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil || h[0] != 0x7f || h[1]&0xf != 1 {
		t.Fatalf("rawsocket handshake: %v %x", err, h)
	}
	send := func(msg ...any) {
		b, _ := json.Marshal(msg)
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
		if _, err := c.Write(append(frame, b...)); err != nil {
			t.Fatal(err)
		}
	}
	// recv returns the next WAMP message, answering pings on the way.
	recv := func() []any {
		for {
			if _, err := io.ReadFull(c, h[:]); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
			if _, err := io.ReadFull(c, b); err != nil {
				t.Fatal(err)
			}
			if h[0] == 1 {
				c.Write(append([]byte{2, h[1], h[2], h[3]}, b...))
				continue
			}
			var msg []any
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			return msg
		}
	}
	send(1, realm, map[string]any{"roles": map[string]any{"subscriber": map[string]any{}}})
	if m := recv(); len(m) == 0 || m[0] != float64(2) {
		t.Fatalf("want WELCOME, got %v", m)
	}
	send(32, 1, map[string]any{}, topic)
	if m := recv(); len(m) == 0 || m[0] != float64(33) {
		t.Fatalf("want SUBSCRIBED, got %v", m)
	}
	c.SetDeadline(time.Time{})
	return c
}
