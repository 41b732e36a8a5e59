package consumers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Config says how to reach a telemesh (or sisock) deployment.
type Config struct {
	// Router is the router's URL, authentication, TLS and serializer. An
	// empty Router.Realm takes the realm of Names.
	Router wampx.Config
	// Names are the realm and URI base; the zero value is telemesh's
	// (protocol.DefaultNames), protocol.SisockNames() a sisock deployment's.
	Names protocol.Names
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// Dial connects a client to the router and keeps it connected, across
// router restarts, until ctx ends. It returns once the client has its
// first session, or an error when it has none within Router.Timeout
// (default 10s) or ctx ends first.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	n := cfg.Names
	if n == (protocol.Names{}) {
		n = protocol.DefaultNames()
	}
	if cfg.Router.Realm == "" {
		cfg.Router.Realm = n.Realm
	}
	n.Realm = cfg.Router.Realm
	dial, err := cfg.Router.Dialer(cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := New(dial, n, cfg.Logger)
	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		c.Run(runCtx)
	}()
	wait := cfg.Router.Timeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	readyCtx, stop := context.WithTimeout(runCtx, wait)
	defer stop()
	if err := c.Ready(readyCtx); err != nil {
		cancel()
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Router.URL, err)
	}
	return c, nil
}

// GetSeries reads fields of a node as GetData does and joins each field to
// its timeline (protocol's DataResult.Series, with the node's field
// metadata), returning one series per field of q.Fields in that order; a
// field without data in the range has an empty series.
func (c *Client) GetSeries(ctx context.Context, node string, q Query) ([]protocol.Series, error) {
	fields, _, err := c.Fields(ctx, node, q.Start, q.End)
	if err != nil {
		return nil, err
	}
	res, err := c.GetData(ctx, node, q)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Series, len(q.Fields))
	for i, f := range q.Fields {
		s, ok := res.Series(f, fields[f].Timeline)
		if !ok {
			s = protocol.Series{Field: f, Timeline: fields[f].Timeline}
		}
		out[i] = s
	}
	return out, nil
}
