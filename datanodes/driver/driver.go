// Package driver defines what a data-node driver is and keeps the registry
// of drivers, telegraf-style: each driver package registers itself in init,
// and datanodes/driver/all imports every driver for its side effect.
//
// A driver reads sensors (or files, brokers, other routers) and hands what
// it measures to a Sink. It knows nothing of storage or WAMP.
package driver

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

// Driver reads one source of readings until ctx ends.
//
// Run declares its fields on sink before emitting readings of them, and
// returns nil when ctx ends. A failure that a retry may cure (a sensor that
// stops answering, a broker that goes away) is reported with sink.Error and
// retried inside Run; Run returns an error only when it cannot go on at all.
// The node restarts a driver whose Run returned an error, with backoff.
type Driver interface {
	Run(ctx context.Context, sink Sink) error
}

// Initializer is implemented by drivers that validate their configuration
// after it is decoded; an error stops the node before it starts.
type Initializer interface {
	Init() error
}

// Field describes a field a driver produces.
type Field struct {
	// Name is the field name, unique within the node.
	Name string
	// Description and Units may be empty.
	Description string
	Units       string
	// Type is protocol.TypeNumber (the default), TypeString or TypeBool.
	Type string
	// Timeline groups fields sampled together; empty means a timeline of
	// the field's own name.
	Timeline string
	// Interval is the nominal sampling interval; zero means aperiodic.
	Interval time.Duration
}

// Sink receives what a driver measures. Its methods are safe for
// concurrent use and do not block for long.
type Sink interface {
	// Declare announces fields, or updates their descriptions.
	Declare(fields ...Field)
	// Emit hands over readings of declared fields. The node's sink queues
	// them for its one store writer and waits at most a second: a store
	// that keeps up has them stored on return; when the queue stays full
	// the batch is dropped and the drop reported through Error.
	Emit(readings ...protocol.Reading)
	// Error reports a failure that was skipped or will be retried: bad data,
	// a sensor error, a lost connection. The node counts and logs it.
	Error(err error)
}

// Factory returns a new driver with its default configuration. The node
// decodes the driver's YAML block into the returned value (strictly:
// unknown keys are errors), then calls Init if the driver has it.
type Factory func() Driver

// Registration is a registered driver.
type Registration struct {
	Name string
	// Usage is a one-line description.
	Usage string
	// Sample is a documented YAML config block for the driver.
	Sample string
	New    Factory
}

var (
	mu       sync.RWMutex
	registry = map[string]Registration{}
)

// Register adds a driver to the registry. It panics on a duplicate name,
// which is a programming error found at start-up.
func Register(r Registration) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[r.Name]; dup {
		panic(fmt.Sprintf("driver %q registered twice", r.Name))
	}
	registry[r.Name] = r
}

// Lookup returns the driver registered under name.
func Lookup(name string) (Registration, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Names returns the names of all registered drivers, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
