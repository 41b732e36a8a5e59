package wampx

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gammazero/nexus/v3/client"
)

// Backoff bounds the delay between reconnection attempts.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff starts at 100ms and doubles up to 5s.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}

// Keep holds a session open until ctx ends: it dials, wraps the client in
// a Session, calls setup with it, and waits for the session to end; then it
// closes that session and dials again with exponential backoff and jitter.
// setup registers procedures, subscribes and announces, and starts the
// owner's goroutines with Session.Go, so they end before the session
// closes; an error from it closes that session and counts as a failed
// attempt. Nothing Keep waits for holds a lock across a send, so a lost
// session is always closed and redialed. Keep returns ctx's error once ctx
// is done.
func Keep(ctx context.Context, dial Dialer, b Backoff, logger *slog.Logger, opts SessionOptions, setup func(ctx context.Context, s *Session) error) error {
	logger = Logger(logger)
	if b.Min <= 0 {
		b = DefaultBackoff
	}
	delay := b.Min
	for {
		c, err := dial(ctx)
		if err == nil {
			s := NewSession(c, logger, opts)
			if err = setup(ctx, s); err == nil {
				delay = b.Min
				select {
				case <-s.Done():
					if ctx.Err() == nil {
						logger.Warn("session lost; reconnecting")
					}
				case <-ctx.Done():
				}
			} else {
				logger.Warn("session setup failed", "err", err)
			}
			s.Close()
		} else if ctx.Err() == nil {
			logger.Warn("cannot reach router", "err", err, "retry_in", delay.String())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Full jitter in [delay/2, delay) keeps many nodes from reconnecting in lockstep.
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, b.Max)
	}
}

// IsClosed reports whether err means the session went away.
func IsClosed(err error) bool {
	return errors.Is(err, client.ErrNotConn)
}
