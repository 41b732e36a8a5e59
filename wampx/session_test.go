package wampx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
)

// deafRouter joins a client over linked in-process peers and then never
// reads from it again, as a router (or a connection) that takes no more
// bytes: every send of the client blocks. It returns the client and the
// router's side of the link.
func deafRouter(t *testing.T) (*client.Client, wamp.Peer) {
	t.Helper()
	cside, rside := transport.LinkedPeers()
	go func() {
		<-rside.Recv() // HELLO
		rside.Send() <- &wamp.Welcome{ID: 1, Details: wamp.Dict{
			"roles": wamp.Dict{"broker": wamp.Dict{}, "dealer": wamp.Dict{}},
		}}
	}()
	c, err := NewClient(cside, client.Config{Realm: "r", ResponseTimeout: 100 * time.Millisecond, Logger: StdLog(nil)})
	if err != nil {
		t.Fatal(err)
	}
	return c, rside
}

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// TestSessionLostMidSend blocks sends on a session whose router stops
// reading, then loses the session: every blocked send returns at once with
// a closed-session error, later sends fail at once with ErrSessionClosed,
// and Close completes.
func TestSessionLostMidSend(t *testing.T) {
	c, rside := deafRouter(t)
	s := NewSession(c, nil, SessionOptions{StallTimeout: time.Hour, CloseTimeout: 2 * time.Second})
	errs := make(chan error, 3)
	go func() {
		_, err := s.Call(context.Background(), "x.p", nil, nil, nil, nil)
		errs <- err
	}()
	go func() { errs <- s.Subscribe("x.t", func(*wamp.Event) {}, nil) }()
	go func() { errs <- s.Register("x.r", nil, nil) }()
	for range 3 {
		if err := s.Publish("x.t", nil, wamp.List{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // let the sends block
	rside.Close()                     // the router goes away
	within(t, 2*time.Second, "blocked sends", func() {
		for range 3 {
			// ErrSessionClosed, or the client's own ErrNotConn when the
			// peer released the send first: either says the session is gone.
			if err := <-errs; !IsClosed(err) {
				t.Errorf("blocked send returned %v, want a closed-session error", err)
			}
		}
	})
	if err := s.Publish("x.t", nil, nil, nil); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("publish after loss: %v, want ErrSessionClosed", err)
	}
	if _, err := s.Call(context.Background(), "x.p", nil, nil, nil, nil); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("call after loss: %v, want ErrSessionClosed", err)
	}
	within(t, 3*time.Second, "Close", s.Close)
}

// TestSessionStall declares a session lost when a publication stays
// blocked past StallTimeout on a connection that is still open, and closes
// it within CloseTimeout.
func TestSessionStall(t *testing.T) {
	c, _ := deafRouter(t)
	s := NewSession(c, nil, SessionOptions{StallTimeout: 50 * time.Millisecond, CloseTimeout: time.Second})
	if err := s.Publish("x.t", nil, wamp.List{1}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a stalled send did not end the session")
	}
	within(t, 2*time.Second, "Close", s.Close)
}

// TestSessionBacklog reports a full publication queue as ErrBacklog
// instead of blocking the publisher.
func TestSessionBacklog(t *testing.T) {
	c, _ := deafRouter(t)
	s := NewSession(c, nil, SessionOptions{QueueSize: 2, StallTimeout: time.Hour, CloseTimeout: 500 * time.Millisecond})
	defer s.Close()
	var err error
	within(t, time.Second, "publishing", func() {
		for range 10 {
			if err = s.Publish("x.t", nil, nil, nil); err != nil {
				break
			}
		}
	})
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("publishing into a full queue: %v, want ErrBacklog", err)
	}
}

// TestSessionGo waits for the owner's goroutines on Close, and ends their
// context with the session.
func TestSessionGo(t *testing.T) {
	c, rside := deafRouter(t)
	defer rside.Close()
	s := NewSession(c, nil, SessionOptions{CloseTimeout: time.Second})
	stopped := make(chan struct{})
	s.Go(func(ctx context.Context) { <-ctx.Done(); close(stopped) })
	within(t, 2*time.Second, "Close", s.Close)
	select {
	case <-stopped:
	default:
		t.Fatal("Close returned before the session's goroutine ended")
	}
}
