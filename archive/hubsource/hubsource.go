// Package hubsource gives the archiver its view of a deployment through
// the Go client: it is the one place that adapts consumers to
// archive.Source.
package hubsource

import (
	"context"
	"log/slog"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Source adapts a running consumers.Client to archive.Source.
type Source struct{ C *consumers.Client }

var _ archive.Source = Source{}

// ListNodes lists the hub's node names.
func (s Source) ListNodes(ctx context.Context) ([]string, error) {
	ns, err := s.C.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out, nil
}

// GetFields returns a node's fields over all time.
func (s Source) GetFields(ctx context.Context, node string) (map[string]protocol.FieldInfo, error) {
	fs, _, err := s.C.Fields(ctx, node, 1, 0)
	return fs, err
}

// GetData reads a node's data, progressively.
func (s Source) GetData(ctx context.Context, node string, fields []string, start, end float64, maxPoints int) (*protocol.DataResult, error) {
	q := consumers.Query{Fields: fields, Start: start, End: end, MaxPoints: maxPoints}
	if maxPoints > 0 {
		q.Agg = "last"
	}
	return s.C.GetData(ctx, node, q)
}

// Subscribe follows a node's live topic.
func (s Source) Subscribe(ctx context.Context, node string, fn func(*protocol.DataResult)) (func(), error) {
	return s.C.Subscribe(ctx, node, fn)
}

// WatchNodes follows the hub's node events.
func (s Source) WatchNodes(fn func(added bool, node string)) func() {
	return s.C.WatchNodes(func(added bool, n protocol.NodeSummary) { fn(added, n.Name) })
}

// Run archives with cfg and sinks through a consumers client of its own on
// dial until ctx ends, and returns nil then; it fails when the archiver
// cannot start (cursor file, listen address).
func Run(ctx context.Context, cfg archive.Config, sinks map[string]archive.Sink, dial wampx.Dialer, n protocol.Names, log *slog.Logger) error {
	cl := consumers.New(dial, n, log)
	a, err := archive.New(cfg, Source{C: cl}, sinks, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	err = a.Run(ctx)
	cancel()
	<-done
	return err
}
