package router

import (
	"sync"

	"github.com/gammazero/nexus/v3/wamp"
)

// Queue sizes around a guardedPeer: nexus writes to the inbox without
// blocking (and drops or refuses when it is full, so it must absorb a burst
// while the forwarding goroutine waits for a CPU), the guardedPeer's
// goroutine moves messages into a queue that grows up to OutQueueSize (so
// idle sessions hold no large buffer), and feeds the transport's short
// queue from it.
const (
	inboxQueue     = 1024
	transportQueue = 16
)

// guardedPeer wraps a transport peer for two reasons. It shields nexus from
// a race in v3.3.0: when a session leaves, the realm asks the broker and
// dealer to forget it without waiting and then closes the peer, whose Send
// channel the transports close, so an EVENT or RESULT still queued for the
// session is sent on a closed channel and panics the router; the
// guardedPeer's Send channel is never closed. And it gives each session a
// queue that only takes memory while messages wait, dropping (and counting)
// messages beyond its limit as nexus would.
type guardedPeer struct {
	wamp.Peer
	in      chan wamp.Message
	limit   int
	dropped func()
	done    chan struct{}
	once    sync.Once
}

func guard(p wamp.Peer, limit int, dropped func()) *guardedPeer {
	g := &guardedPeer{Peer: p, in: make(chan wamp.Message, inboxQueue), limit: limit, dropped: dropped, done: make(chan struct{})}
	go g.forward()
	return g
}

// Send returns the channel nexus queues outgoing messages on.
func (g *guardedPeer) Send() chan<- wamp.Message { return g.in }

// Close stops forwarding and closes the transport.
func (g *guardedPeer) Close() { g.once.Do(func() { close(g.done) }) }

func (g *guardedPeer) forward() {
	defer g.Peer.Close()
	var q []wamp.Message
	for {
		var out chan<- wamp.Message
		var head wamp.Message
		if len(q) > 0 {
			out, head = g.Peer.Send(), q[0]
		}
		select {
		case m := <-g.in:
			if len(q) >= g.limit {
				if g.dropped != nil {
					g.dropped()
				}
				continue
			}
			q = append(q, expandLocal(m))
		case out <- head:
			q[0] = nil
			q = q[1:]
			if len(q) == 0 {
				q = nil // release the buffer of an idle session
			}
		case <-g.done:
			g.flush(q)
			return
		}
	}
}

// flush hands what is queued (typically a GOODBYE or ABORT sent just
// before Close) to the transport without blocking.
func (g *guardedPeer) flush(q []wamp.Message) {
	for {
		select {
		case m := <-g.in:
			q = append(q, m)
		default:
			for _, m := range q {
				select {
				case g.Peer.Send() <- m:
				default:
					return
				}
			}
			return
		}
	}
}

// expandLocal decodes a raw payload for an in-process session, which
// reads values; a result whose payload cannot be decoded becomes an ERROR
// to its caller.
func expandLocal(m wamp.Message) wamp.Message {
	x, err := expand(m)
	if err == nil {
		return x
	}
	if r, ok := m.(*wamp.Result); ok {
		return &wamp.Error{Type: wamp.CALL, Request: r.Request, Details: wamp.Dict{}, Error: wamp.ErrInvalidArgument, Arguments: wamp.List{err.Error()}}
	}
	return m
}
