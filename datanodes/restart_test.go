package datanodes

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/datanodes/store/memstore"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/router/routertest"
	"github.com/telemesh/telemesh/wampx"
)

// flaky fails on its first run, panics on its second, and works on the
// third.
type flaky struct {
	runs atomic.Int32
	Tag  string `yaml:"tag"`
}

func (f *flaky) Run(ctx context.Context, s driver.Sink) error {
	switch f.runs.Add(1) {
	case 1:
		return errors.New("sensor unplugged")
	case 2:
		panic("driver bug")
	}
	s.Declare(driver.Field{Name: "flaky_" + f.Tag})
	s.Error(errors.New("one bad sample"))
	s.Emit(protocol.Reading{Field: "flaky_" + f.Tag, Time: 1e18, Value: 1.0})
	<-ctx.Done()
	return nil
}

func init() {
	driver.Register(driver.Registration{Name: "test-flaky", Usage: "test only", New: func() driver.Driver { return &flaky{} }})
}

func TestDriverRestart(t *testing.T) {
	url := routertest.Start(t, protocol.DefaultRealm).WebSocketURL()
	cfg := Config{Name: "n1", Drivers: []DriverConfig{{Type: "test-flaky", Block: []byte("tag: x\n")}}}
	n, err := New(cfg, dialer(t, url), memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.restart = wampx.Backoff{Min: 10 * time.Millisecond, Max: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "driver running after two failures", func() bool { _, ok := n.Latest()["flaky_x"]; return ok })
	if got := n.Stats().SinkErrors; got != 1 {
		t.Errorf("%d sink errors counted, want 1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
