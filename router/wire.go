package router

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// frameConn is one network connection carrying WAMP messages in frames
// (RawSocket or WebSocket). readFrame is called from one goroutine and the
// write methods from another.
type frameConn interface {
	// readFrame returns the next WAMP message of at most limit() bytes
	// (asked once its length is known), answering pings itself; touch is
	// called on every frame received.
	readFrame(limit func() int, touch func()) ([]byte, error)
	// writeFrame writes one WAMP message.
	writeFrame(b []byte, deadline time.Time) error
	// ping asks the peer for a sign of life.
	ping(deadline time.Time) error
	// pongs yields payloads of pings to answer (nil when the connection
	// answers them itself).
	pongs() <-chan []byte
	// writePong answers one ping.
	writePong(b []byte, deadline time.Time) error
	// sendLimit is the largest message the peer accepts (0: no limit).
	sendLimit() int
	close() error
}

// wireLimits bound what one network session may cost the router.
type wireLimits struct {
	maxMessage   int           // bytes of one incoming message once joined
	preAuth      int           // bytes of one incoming message before WELCOME
	queueLen     int           // outgoing messages waiting; more are dropped
	queueBytes   int           // outgoing bytes waiting; more drops the session
	keepAlive    time.Duration // ping within this much silence, drop after twice it (0: never)
	writeTimeout time.Duration // one write; a peer slower than this is dropped
}

// Why the router dropped a network peer (the reason label of
// telemesh_router_dropped_peers_total).
const (
	dropBadFrame = "bad_frame"
	dropProtocol = "protocol_violation"
	dropSlow     = "slow_consumer"
	dropSilent   = "silent"
	dropWrite    = "write_failed"
)

// flushTimeout bounds the delivery of what is queued (typically an ABORT
// or GOODBYE) when a session closes.
const flushTimeout = 2 * time.Second

// wirePeer is a wamp.Peer over a frameConn, replacing nexus's transport
// peers on every network listener. Whatever a peer sends costs at most its
// own connection: undecodable bytes, unknown or reserved frames and
// messages a client may not send close the connection (after an ABORT
// where the framing still allows one); a malformed request gets an ERROR.
// It bounds the incoming message size (tighter before authentication),
// the outgoing queue in messages and in bytes, and the silence of the peer
// (pings). It delivers what is queued before closing, answers a call whose
// RESULT exceeds the caller's announced maximum with an ERROR and lets
// callees that announce progressive results but not call canceling stream
// them.
type wirePeer struct {
	fc      frameConn
	codec   *codec
	lim     wireLimits
	log     *slog.Logger
	dropped func()              // a message was dropped (full queue)
	dropSes func(reason string) // the session was dropped

	rd     chan wamp.Message // Recv: to the router
	in     chan wamp.Message // Send: from the router
	inject chan wamp.Message // messages the peer is deemed to have sent
	frames chan []byte       // the queue owner to the writer
	pings  chan struct{}

	closing   chan struct{} // Close was called or the peer is dropped
	closeOnce sync.Once
	dead      chan struct{} // the connection is closed
	deadOnce  sync.Once

	welcomed   atomic.Bool
	fakeCancel atomic.Bool // call_canceling was announced on the callee's behalf
	pingable   atomic.Bool // HELLO came from a client that answers pings
	lastRecv   atomic.Int64
}

func newWirePeer(fc frameConn, c *codec, lim wireLimits, log *slog.Logger, dropped func(), dropSes func(string)) *wirePeer {
	w := &wirePeer{
		fc: fc, codec: c, lim: lim, log: log, dropped: dropped, dropSes: dropSes,
		rd:      make(chan wamp.Message),
		in:      make(chan wamp.Message, inboxQueue),
		inject:  make(chan wamp.Message, 16),
		frames:  make(chan []byte),
		pings:   make(chan struct{}, 1),
		closing: make(chan struct{}),
		dead:    make(chan struct{}),
	}
	w.touch()
	recvd := make(chan wamp.Message)
	go w.readLoop(recvd)
	go w.pump(recvd)
	go w.queue()
	go w.writeLoop()
	return w
}

func (w *wirePeer) Recv() <-chan wamp.Message { return w.rd }
func (w *wirePeer) Send() chan<- wamp.Message { return w.in }
func (w *wirePeer) IsLocal() bool             { return false }

// Close delivers what is queued, within flushTimeout, then closes the
// connection. It does not wait.
func (w *wirePeer) Close() { w.closeOnce.Do(func() { close(w.closing) }) }

// drop ends the session for a reason of the router's.
func (w *wirePeer) drop(reason string, err error) {
	select {
	case <-w.closing:
		return
	default:
	}
	w.log.Info("dropping network peer", "reason", reason, "err", err)
	if w.dropSes != nil {
		w.dropSes(reason)
	}
	w.Close()
}

// kill closes the connection at once.
func (w *wirePeer) kill() {
	w.deadOnce.Do(func() {
		close(w.dead)
		w.fc.close()
	})
}

func (w *wirePeer) touch() { w.lastRecv.Store(time.Now().UnixNano()) }

// readLoop decodes and checks incoming messages.
func (w *wirePeer) readLoop(out chan<- wamp.Message) {
	defer close(out)
	for {
		b, err := w.fc.readFrame(w.readLimit, w.touch)
		if err != nil {
			select {
			case <-w.closing:
			case <-w.dead:
			default:
				if errors.Is(err, errTooBig) {
					w.reply(&wamp.Abort{Details: wamp.Dict{wamp.OptMessage: err.Error()}, Reason: errPayloadSize})
				}
				if !errors.Is(err, errPeerClosed) {
					w.drop(dropBadFrame, err)
				}
				w.Close()
			}
			return
		}
		m, err := w.codec.decode(b)
		if err != nil {
			if typ, req, ack, ok := w.codec.decodeHead(b); ok && isRequest(typ) {
				// The session goes on: answer the request if it expects
				// an answer, drop it otherwise (an unacknowledged PUBLISH).
				if e := requestError(typ, req, ack, "malformed message: "+err.Error()); e != nil {
					w.reply(e)
				}
				continue
			}
			w.violation(err.Error())
			return
		}
		if !clientMessages[m.MessageType()] {
			w.violation(fmt.Sprintf("a client may not send %v", m.MessageType()))
			return
		}
		if why := invalidOptions(m); why != "" {
			req, ack := requestOf(m)
			if e := requestError(m.MessageType(), req, ack, why); e != nil {
				w.reply(e)
			}
			continue
		}
		if h, ok := m.(*wamp.Hello); ok {
			w.announceCanceling(h)
			_, rs := w.fc.(*rsConn)
			w.pingable.Store(!rs || !autobahnPython(h))
		}
		select {
		case out <- m:
		case <-w.closing:
			return
		}
	}
}

// readLimit is the largest message the peer may send now.
func (w *wirePeer) readLimit() int {
	if w.welcomed.Load() {
		return w.lim.maxMessage
	}
	return w.lim.preAuth
}

// requestOf returns a request's ID and whether it asked for an
// acknowledgement.
func requestOf(m wamp.Message) (wamp.ID, bool) {
	switch m := m.(type) {
	case *wamp.Publish:
		ack, _ := m.Options[wamp.OptAcknowledge].(bool)
		return m.Request, ack
	case *wamp.Call:
		return m.Request, true
	case *wamp.Register:
		return m.Request, true
	case *wamp.Subscribe:
		return m.Request, true
	}
	return 0, false
}

// violation aborts the session for a protocol violation.
func (w *wirePeer) violation(why string) {
	w.reply(&wamp.Abort{Details: wamp.Dict{wamp.OptMessage: why}, Reason: wamp.ErrProtocolViolation})
	w.drop(dropProtocol, errors.New(why))
}

// reply queues a message of the router's own to the peer.
func (w *wirePeer) reply(m wamp.Message) {
	select {
	case w.in <- m:
	default:
		w.dropped()
	}
}

// announceCanceling lets a callee that announces progressive call results
// but not call canceling (autobahn-js) receive receive_progress: nexus
// forwards it only to callees announcing both. The router then answers
// the INTERRUPTs meant for such a callee itself (see interrupted).
func (w *wirePeer) announceCanceling(h *wamp.Hello) {
	roles, _ := wamp.AsDict(h.Details["roles"])
	callee, _ := wamp.AsDict(roles[wamp.RoleCallee])
	features, _ := wamp.AsDict(callee["features"])
	if on, _ := features[wamp.FeatureProgCallResults].(bool); !on {
		return
	}
	if _, ok := features[wamp.FeatureCallCanceling]; ok {
		return
	}
	features[wamp.FeatureCallCanceling] = true
	callee["features"], roles[wamp.RoleCallee], h.Details["roles"] = features, callee, roles
	w.fakeCancel.Store(true)
}

// autobahnPython reports whether a HELLO comes from autobahn-python (it
// announces payload transparency and cryptobox encryption; no other client
// in use does). Its RawSocket transports cannot take a PING: asyncio's
// raises NotImplementedError and drops the connection, Twisted's reads the
// frame header as a 32-bit length and refuses it. Such sessions are not
// pinged, hence not dropped for silence; a hung one is noticed when a
// write to it stalls or its socket closes.
func autobahnPython(h *wamp.Hello) bool {
	roles, _ := wamp.AsDict(h.Details["roles"])
	for _, r := range roles {
		role, _ := wamp.AsDict(r)
		features, _ := wamp.AsDict(role["features"])
		if _, ok := features["payload_transparency"]; ok {
			return true
		}
		if _, ok := features["payload_encryption_cryptobox"]; ok {
			return true
		}
	}
	return false
}

// pump hands received and injected messages to the router and closes Recv
// when the connection ends.
func (w *wirePeer) pump(recvd <-chan wamp.Message) {
	defer close(w.rd)
	for {
		var m wamp.Message
		select {
		case x, ok := <-recvd:
			if !ok {
				return
			}
			m = x
		case m = <-w.inject:
		}
		select {
		case w.rd <- m:
		case <-w.dead:
			return
		}
	}
}

// queue owns the outgoing queue: it serializes what the router sends,
// bounds the queue, pings a silent peer and, on Close, flushes.
func (w *wirePeer) queue() {
	defer close(w.frames)
	var q [][]byte
	bytes := 0
	var tick <-chan time.Time
	if w.lim.keepAlive > 0 {
		// Ticking at half the interval pings a peer before it has been
		// silent for a whole interval, whatever the phase of its silence,
		// and drops a silent one within 2.5 intervals.
		t := time.NewTicker(w.lim.keepAlive / 2)
		defer t.Stop()
		tick = t.C
	}
	for {
		var out chan<- []byte
		var head []byte
		if len(q) > 0 {
			out, head = w.frames, q[0]
		}
		select {
		case m := <-w.in:
			b := w.outgoing(m)
			if b == nil {
				continue
			}
			if len(q) >= w.lim.queueLen {
				w.dropped()
				continue
			}
			q, bytes = append(q, b), bytes+len(b)
			if w.lim.queueBytes > 0 && bytes > w.lim.queueBytes {
				w.drop(dropSlow, fmt.Errorf("%d bytes queued, more than %d", bytes, w.lim.queueBytes))
				w.kill() // nothing of this queue is worth flushing
				return
			}
		case out <- head:
			bytes -= len(head)
			q[0] = nil
			q = q[1:]
			if len(q) == 0 {
				q = nil // release the buffer of an idle session
			}
		case <-tick:
			if !w.pingable.Load() {
				continue // before HELLO, nexus's HELLO timeout applies
			}
			idle := time.Since(time.Unix(0, w.lastRecv.Load()))
			if idle > 2*w.lim.keepAlive {
				w.drop(dropSilent, fmt.Errorf("no frame for %v", idle.Round(time.Millisecond)))
				w.kill()
				return
			}
			if idle >= w.lim.keepAlive/2 {
				select {
				case w.pings <- struct{}{}:
				default:
				}
			}
		case <-w.closing:
			w.flush(q)
			return
		case <-w.dead:
			return
		}
	}
}

// flush hands what is queued, and what the router queued just before
// Close, to the writer within flushTimeout.
func (w *wirePeer) flush(q [][]byte) {
	for {
		select {
		case m := <-w.in:
			if b := w.outgoing(m); b != nil {
				q = append(q, b)
			}
			continue
		default:
		}
		break
	}
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	for _, b := range q {
		select {
		case w.frames <- b:
		case <-t.C:
			w.kill() // the peer does not read: stop waiting for it
			return
		case <-w.dead:
			return
		}
	}
}

// outgoing serializes a message for the peer, or returns nil when it is
// not to be sent. A message over the peer's announced maximum is replaced
// by an answer the peer can take, so that nothing waits for it forever.
func (w *wirePeer) outgoing(m wamp.Message) []byte {
	if _, ok := m.(*wamp.Welcome); ok {
		w.welcomed.Store(true)
	}
	if in, ok := m.(*wamp.Interrupt); ok && w.fakeCancel.Load() {
		w.interrupted(in)
		return nil
	}
	b, err := w.codec.encode(m)
	limit := w.fc.sendLimit()
	if err == nil && (limit == 0 || len(b) <= limit) {
		return b
	}
	why := fmt.Sprintf("%v of %d bytes exceeds the peer's maximum of %d bytes", m.MessageType(), len(b), limit)
	if err != nil {
		why = err.Error()
	}
	w.log.Warn("message not deliverable to peer", "err", why)
	uri := errPayloadSize
	if errors.Is(err, errDecode) {
		uri = wamp.ErrInvalidArgument // a raw payload that does not decode
	}
	var alt wamp.Message
	switch m := m.(type) {
	case *wamp.Result:
		alt = &wamp.Error{Type: wamp.CALL, Request: m.Request, Details: wamp.Dict{}, Error: uri, Arguments: wamp.List{why}}
	case *wamp.Error:
		alt = &wamp.Error{Type: m.Type, Request: m.Request, Details: wamp.Dict{}, Error: errPayloadSize, Arguments: wamp.List{why}}
	case *wamp.Invocation:
		// The callee cannot get it: answer the caller in its name.
		w.injectMsg(&wamp.Error{Type: wamp.INVOCATION, Request: m.Request, Details: wamp.Dict{}, Error: errPayloadSize, Arguments: wamp.List{why}})
		return nil
	case *wamp.Event:
		w.dropped()
		return nil
	default:
		// WELCOME, CHALLENGE, ...: the session cannot go on.
		alt = &wamp.Abort{Details: wamp.Dict{wamp.OptMessage: why}, Reason: errPayloadSize}
		defer w.Close()
	}
	b, err = w.codec.encode(alt)
	if err != nil || (limit > 0 && len(b) > limit) {
		return nil
	}
	return b
}

// interrupted answers an INTERRUPT for a callee that never announced call
// canceling: the callee is not told, and in mode kill the router answers
// the dealer in its name (in killnowait the dealer has answered already).
func (w *wirePeer) interrupted(in *wamp.Interrupt) {
	if mode, _ := in.Options[wamp.OptMode].(string); mode == wamp.CancelModeKill {
		w.injectMsg(&wamp.Error{Type: wamp.INVOCATION, Request: in.Request, Details: wamp.Dict{}, Error: wamp.ErrCanceled})
	}
}

func (w *wirePeer) injectMsg(m wamp.Message) {
	select {
	case w.inject <- m:
	default:
		w.dropped()
	}
}

// writeLoop writes frames, pings and pongs; after the last frame (or a
// failed write) it closes the connection.
func (w *wirePeer) writeLoop() {
	defer w.kill()
	for {
		select {
		case b, ok := <-w.frames:
			if !ok {
				return
			}
			if err := w.fc.writeFrame(b, time.Now().Add(w.lim.writeTimeout)); err != nil {
				w.drop(dropWrite, err)
				return
			}
		case <-w.pings:
			if err := w.fc.ping(time.Now().Add(w.lim.writeTimeout)); err != nil {
				w.drop(dropWrite, err)
				return
			}
		case p := <-w.fc.pongs():
			if err := w.fc.writePong(p, time.Now().Add(w.lim.writeTimeout)); err != nil {
				w.drop(dropWrite, err)
				return
			}
		}
	}
}

// errPeerClosed is what readFrame returns when the peer closed the
// connection in an orderly way.
var errPeerClosed = errors.New("connection closed by peer")

// errPayloadSize is the error of a message over a peer's maximum.
const errPayloadSize = wamp.URI("wamp.error.payload_size_exceeded")
