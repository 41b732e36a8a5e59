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
