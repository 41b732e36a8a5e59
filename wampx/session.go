package wampx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
)

// ErrSessionClosed is returned by a send on a session that is closing or
// lost. It wraps client.ErrNotConn, so IsClosed reports it too.
var ErrSessionClosed = fmt.Errorf("session closed: %w", client.ErrNotConn)

// ErrBacklog is returned by Publish when the session's publication queue
// is full: the peer does not keep up, and the event is dropped.
var ErrBacklog = errors.New("session publication queue full")

// SessionOptions tunes a Session; the zero value is usable.
type SessionOptions struct {
	// QueueSize bounds the publications waiting to be sent; default 256.
	QueueSize int
	// StallTimeout is how long one send may stay blocked in the client
	// before the session is declared lost (a connection that takes no more
	// bytes); default 30s.
	StallTimeout time.Duration
	// CloseTimeout bounds Close; default 5s.
	CloseTimeout time.Duration
}

// A Session owns one nexus client session: every send on it (Publish,
// SendProgress, Call, Register, Subscribe) and its end.
//
// nexus sends block on an unbuffered channel that only the connection's
// writer drains, and panic once Close has closed it. A Session runs each
// such send on a goroutine of its own and waits for it, for the caller's
// context and for the session's end, so a send on a closing or lost session
// returns ErrSessionClosed at once and never holds its caller; Close then
// unblocks the stranded sends. Publications go through one queue and one
// sender goroutine, so they keep their order. No lock is held across a send.
type Session struct {
	c    *client.Client
	log  *slog.Logger
	opts SessionOptions

	// ctx ends when the session is lost or starts closing.
	ctx    context.Context
	cancel context.CancelFunc
	pubs   chan publication
	// owned counts the goroutines started with Go, which Close waits for.
	owned     sync.WaitGroup
	closeOnce sync.Once
}

type publication struct {
	topic   string
	options wamp.Dict
	args    wamp.List
	kwargs  wamp.Dict
}

// NewSession takes ownership of c; logger may be nil. Close it when done.
func NewSession(c *client.Client, logger *slog.Logger, opts SessionOptions) *Session {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	s := &Session{
		c: c, log: Logger(logger), opts: opts,
		pubs: make(chan publication, opts.QueueSize),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.Done():
			s.cancel()
		case <-s.ctx.Done():
		}
	}()
	go s.sender()
	return s
}

// ID is the session's WAMP session ID.
func (s *Session) ID() wamp.ID { return s.c.ID() }

// Done is closed when the session is lost or starts closing.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Connected reports whether the session is up and not closing.
func (s *Session) Connected() bool { return s.ctx.Err() == nil }

// Context returns a context that ends with the session.
func (s *Session) Context() context.Context { return s.ctx }

// Go runs f on a goroutine the session owns: f's context ends with the
// session, and Close waits for f to return.
func (s *Session) Go(f func(ctx context.Context)) {
	s.owned.Add(1)
	go func() {
		defer s.owned.Done()
		f(s.ctx)
	}()
}

// Publish queues an event and returns at once: nil once queued (an event
// queued when the session drops is lost with it, as one in flight would
// be), ErrSessionClosed on a closing or lost session, ErrBacklog when the
// queue is full.
func (s *Session) Publish(topic string, options wamp.Dict, args wamp.List, kwargs wamp.Dict) error {
	if s.ctx.Err() != nil {
		return ErrSessionClosed
	}
	select {
	case s.pubs <- publication{topic, options, args, kwargs}:
		return nil
	default:
		return ErrBacklog
	}
}

// sender sends the queued publications in order until the session ends.
func (s *Session) sender() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case p := <-s.pubs:
			err := s.do(context.Background(), true, func() error {
				return s.c.Publish(p.topic, p.options, p.args, p.kwargs)
			})
			if err != nil && !IsClosed(err) {
				s.log.Debug("publication failed", "topic", p.topic, "err", err)
			}
		}
	}
}

// Call calls a procedure (progcb may be nil), returning at once with
// ErrSessionClosed when the session ends and with ctx's error when ctx
// ends first.
func (s *Session) Call(ctx context.Context, procedure string, options wamp.Dict, args wamp.List, kwargs wamp.Dict, progcb client.ProgressHandler) (*wamp.Result, error) {
	return run(s, ctx, false, func() (*wamp.Result, error) {
		return s.c.Call(ctx, procedure, options, args, kwargs, progcb)
	})
}

// SendProgress sends a progressive result from an invocation handler;
// ctx must be the handler's context.
func (s *Session) SendProgress(ctx context.Context, args wamp.List, kwargs wamp.Dict) error {
	return s.do(ctx, true, func() error { return s.c.SendProgress(ctx, args, kwargs) })
}

// Register registers a procedure.
func (s *Session) Register(procedure string, fn client.InvocationHandler, options wamp.Dict) error {
	return s.do(context.Background(), false, func() error { return s.c.Register(procedure, fn, options) })
}

// Subscribe subscribes to a topic.
func (s *Session) Subscribe(topic string, fn client.EventHandler, options wamp.Dict) error {
	return s.do(context.Background(), false, func() error { return s.c.Subscribe(topic, fn, options) })
}

// Unsubscribe ends the subscription to a topic.
func (s *Session) Unsubscribe(topic string) error {
	return s.do(context.Background(), false, func() error { return s.c.Unsubscribe(topic) })
}

// SubscriptionID returns the ID of the subscription to topic, if any.
func (s *Session) SubscriptionID(topic string) (wamp.ID, bool) { return s.c.SubscriptionID(topic) }

// SetCallCancelMode sets how calls cancelled by their context are
// cancelled at the router.
func (s *Session) SetCallCancelMode(mode string) error { return s.c.SetCallCancelMode(mode) }

// do runs send on its own goroutine and waits for it, for ctx and for the
// session's end (see run).
func (s *Session) do(ctx context.Context, pure bool, send func() error) error {
	_, err := run(s, ctx, pure, func() (struct{}, error) { return struct{}{}, send() })
	return err
}

// run runs send on its own goroutine and waits for it, for ctx and for the
// session's end; its result travels back by channel, so a caller that
// gave up never shares it with the goroutine. A pure send (no reply
// awaited) that stays blocked past StallTimeout means the connection takes
// no more bytes: the session is declared lost. A send stranded by the
// session's end returns once the connection's peer drops or drains it.
func run[T any](s *Session, ctx context.Context, pure bool, send func() (T, error)) (T, error) {
	var zero T
	if s.ctx.Err() != nil {
		return zero, ErrSessionClosed
	}
	type result struct {
		v   T
		err error
	}
	res := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil { // a peer that closes under its senders
				res <- result{err: fmt.Errorf("%w: %v", ErrSessionClosed, r)}
			}
		}()
		v, err := send()
		res <- result{v, err}
	}()
	var stall <-chan time.Time
	if pure {
		t := time.NewTimer(s.opts.StallTimeout)
		defer t.Stop()
		stall = t.C
	}
	select {
	case r := <-res:
		return r.v, r.err
	case <-s.ctx.Done():
		return zero, ErrSessionClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-stall:
		s.log.Warn("send stalled; dropping the session", "after", s.opts.StallTimeout.String())
		s.cancel()
		return zero, ErrSessionClosed
	}
}

// Close ends the session: sends return at once from then on, the
// goroutines started with Go are waited for, and the client says goodbye
// and closes, all within CloseTimeout. A client that cannot close in time
// (a connection whose writer is stuck) is abandoned with a warning, so a
// reconnect never waits on a dead connection. Close is idempotent.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		deadline, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
		defer cancel()
		owned := make(chan struct{})
		go func() { s.owned.Wait(); close(owned) }()
		select {
		case <-owned:
		case <-deadline.Done():
			s.log.Warn("session goroutines did not stop in time", "timeout", s.opts.CloseTimeout.String())
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = s.c.Close()
		}()
		select {
		case <-closed:
		case <-deadline.Done():
			s.log.Warn("session did not close in time; abandoning it", "timeout", s.opts.CloseTimeout.String())
		}
	})
}
