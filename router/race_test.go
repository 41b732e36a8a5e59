package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// TestSubscribersLeavingDuringPublish has subscribers come and go while
// events flow to them: the situation in which unguarded nexus peers may
// panic the router (send on a closed channel, seen with autobahn-python
// sessions leaving). The race is timing-dependent, so this is a stress
// test rather than a reliable reproducer.
func TestSubscribersLeavingDuringPublish(t *testing.T) {
	s := startServer(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := s.LocalDialer("node1", protocol.RoleDataNode)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	topic := testNames.Data("node1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				pub.Publish(topic, nil, wamp.List{1.0}, nil)
			}
		}
	}()
	for _, url := range []string{s.WebSocketURL(), s.RawSocketURL()} {
		for range 10 {
			c, err := dial(t, wampx.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan struct{}, 1)
			if err := c.Subscribe(topic, func(*wamp.Event) {
				select {
				case got <- struct{}{}:
				default:
				}
			}, nil); err != nil {
				t.Fatal(err)
			}
			<-got
			c.Close()
		}
	}
	close(stop)
	wg.Wait()
}

// TestCloseWithMetaCallsInFlight stops the router while sessions call a
// meta procedure in a loop, as the hub lists sessions while it
// reconciles: Run must return. nexus's realm stops reading its meta
// session before it waits for the meta procedure handler, which wedged
// Close for ever when a call was being answered (closingGate).
func TestCloseWithMetaCallsInFlight(t *testing.T) {
	for i := range 10 {
		s, err := New(testConfig(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		<-s.Ready()
		var wg sync.WaitGroup
		answered := make(chan struct{}, 4)
		for range 4 {
			c, err := s.LocalDialer("hub", protocol.RoleHub)(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					if _, err := c.Call(context.Background(), string(wamp.MetaProcSessionList), nil, nil, nil, nil); err != nil {
						return
					}
					select {
					case answered <- struct{}{}:
					default:
					}
				}
			}()
		}
		<-answered
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: Run did not return after its context ended", i)
		}
		wg.Wait()
	}
}
