package wampx

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
)

// drainIdle is how long a closed peer keeps releasing sends stranded on
// it after the last one.
const drainIdle = time.Second

// ownedPeer is a peer whose send channel the client side owns. nexus's
// peers take sends on an unbuffered channel that only their writer drains,
// and close it on Close: a send stranded behind a dead writer blocks until
// then and panics. Here sends go to a channel that is never closed; one
// pump forwards them to the connection while it lives, drops them once
// the client's session is gone, and after Close a drainer releases any
// still stranded, so no send ever blocks past the session's end and none
// meets a closed channel. A send the connection does not take within the
// stall bound (a peer that reads no more) ends the session: the pump
// closes the receive side the client reads, as a lost connection would.
type ownedPeer struct {
	wamp.Peer
	stall  time.Duration
	wr     chan wamp.Message
	rd     chan wamp.Message
	dead   chan struct{} // closed when the client's session ended
	lost   chan struct{} // closed when a send stalled
	stop   chan struct{} // closed by Close
	pumped chan struct{} // closed when the send pump has returned
	once   sync.Once
}

func ownPeer(p wamp.Peer, stall time.Duration) *ownedPeer {
	o := &ownedPeer{
		Peer: p, stall: stall, wr: make(chan wamp.Message), rd: make(chan wamp.Message),
		dead: make(chan struct{}), lost: make(chan struct{}), stop: make(chan struct{}), pumped: make(chan struct{}),
	}
	go o.pump()
	go o.receive()
	return o
}

// Send is the channel the client sends on.
func (o *ownedPeer) Send() chan<- wamp.Message { return o.wr }

// Recv is the channel the client receives on.
func (o *ownedPeer) Recv() <-chan wamp.Message { return o.rd }

// watch marks the connection dead once c's session ends.
func (o *ownedPeer) watch(c *client.Client) {
	go func() {
		select {
		case <-c.Done():
			close(o.dead)
		case <-o.stop:
		}
	}()
}

func (o *ownedPeer) pump() {
	defer close(o.pumped)
	t := time.NewTimer(o.stall)
	defer t.Stop()
	for {
		select {
		case m := <-o.wr:
			t.Reset(o.stall)
			select {
			case o.Peer.Send() <- m:
			case <-o.dead: // the writer is gone with the session: drop
			case <-o.lost:
			case <-o.stop:
				return
			case <-t.C:
				close(o.lost) // receive ends the session
			}
		case <-o.stop:
			return
		}
	}
}

// receive forwards what the connection receives until it ends, a send
// stalls or the peer closes.
func (o *ownedPeer) receive() {
	defer close(o.rd)
	in := o.Peer.Recv()
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return
			}
			select {
			case o.rd <- m:
			case <-o.lost:
				return
			case <-o.stop:
				return
			}
		case <-o.lost:
			return
		case <-o.stop:
			return
		}
	}
}

// Close stops the pump before closing the connection, so nothing is
// sending into the connection's channel when it closes.
func (o *ownedPeer) Close() {
	o.once.Do(func() {
		close(o.stop)
		<-o.pumped
		go o.drain()
		o.Peer.Close()
	})
}

func (o *ownedPeer) drain() {
	t := time.NewTimer(drainIdle)
	defer t.Stop()
	for {
		select {
		case <-o.wr:
			t.Reset(drainIdle)
		case <-t.C:
			return
		}
	}
}

// connect is client.ConnectNet with the connection's peer owned (see
// ownedPeer).
func connect(ctx context.Context, routerURL string, cfg client.Config) (*client.Client, error) {
	u, err := url.Parse(routerURL)
	if err != nil {
		return nil, err
	}
	var p wamp.Peer
	switch u.Scheme {
	case "http", "https", "ws", "wss":
		switch u.Scheme {
		case "http":
			u.Scheme = "ws"
		case "https":
			u.Scheme = "wss"
		}
		p, err = transport.ConnectWebsocketPeer(ctx, u.String(), cfg.Serialization, cfg.TlsCfg, cfg.Logger, &cfg.WsCfg)
	case "tcps", "tcp4s", "tcp6s":
		tc := cfg.TlsCfg
		if tc == nil {
			tc = new(tls.Config)
		}
		p, err = transport.ConnectRawSocketPeer(ctx, u.Scheme[:len(u.Scheme)-1], u.Host, cfg.Serialization, tc, cfg.Logger, cfg.RecvLimit)
	case "tcp", "tcp4", "tcp6":
		p, err = transport.ConnectRawSocketPeer(ctx, u.Scheme, u.Host, cfg.Serialization, cfg.TlsCfg, cfg.Logger, cfg.RecvLimit)
	case "unix":
		if cfg.TlsCfg != nil {
			return nil, fmt.Errorf("tls not supported for %s", u.Scheme)
		}
		p, err = transport.ConnectRawSocketPeer(ctx, u.Scheme, path.Clean(u.Host+u.Path), cfg.Serialization, nil, cfg.Logger, cfg.RecvLimit)
	default:
		return nil, fmt.Errorf("invalid url: %s", routerURL)
	}
	if err != nil {
		return nil, err
	}
	return NewClient(p, cfg)
}

// NewClient joins a realm over p as client.NewClient does, with p's send
// channel owned on the client side (see ownedPeer), a send stalled for
// cfg.ResponseTimeout (default 10s) ending the session: for dialers that
// make their own peers, in-process ones included.
func NewClient(p wamp.Peer, cfg client.Config) (*client.Client, error) {
	stall := cfg.ResponseTimeout
	if stall <= 0 {
		stall = 10 * time.Second
	}
	o := ownPeer(p, stall)
	c, err := client.NewClient(o, cfg)
	if err != nil {
		return nil, err // NewClient closed the peer
	}
	o.watch(c)
	return c, nil
}
