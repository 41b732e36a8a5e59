package router

import (
	"sync"

	"github.com/gammazero/nexus/v3/wamp"
)

// transportQueue is the queue of a transport peer behind a guardedPeer; the
// guardedPeer's own queue (OutQueueSize) is the one nexus fills and drops
// from.
const transportQueue = 16

// guardedPeer shields nexus from a race in v3.3.0: when a session leaves,
// the realm asks the broker and dealer to forget it without waiting, then
// closes the peer, whose Send channel the transports close; an EVENT or
// RESULT still queued for that session is then sent on a closed channel and
// panics the whole router. The guardedPeer's Send channel is never closed:
// a goroutine forwards from it to the transport until Close, and messages
// arriving later are dropped.
type guardedPeer struct {
	wamp.Peer
	out  chan wamp.Message
	done chan struct{}
	once sync.Once
}

func guard(p wamp.Peer, queue int) *guardedPeer {
	g := &guardedPeer{Peer: p, out: make(chan wamp.Message, queue), done: make(chan struct{})}
	go g.forward()
	return g
}

// Send returns the channel nexus queues outgoing messages on.
func (g *guardedPeer) Send() chan<- wamp.Message { return g.out }

// Close stops forwarding and closes the transport.
func (g *guardedPeer) Close() { g.once.Do(func() { close(g.done) }) }

func (g *guardedPeer) forward() {
	defer g.Peer.Close()
	for {
		select {
		case m := <-g.out:
			select {
			case g.Peer.Send() <- m:
			case <-g.done:
				g.flush()
				return
			}
		case <-g.done:
			g.flush()
			return
		}
	}
}

// flush hands what is queued (typically a GOODBYE or ABORT sent just
// before Close) to the transport without blocking.
func (g *guardedPeer) flush() {
	for {
		select {
		case m := <-g.out:
			select {
			case g.Peer.Send() <- m:
			default:
				return
			}
		default:
			return
		}
	}
}
