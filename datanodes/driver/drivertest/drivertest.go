// Package drivertest helps test data-node drivers: Recorder is a
// driver.Sink that keeps everything a driver declares, emits and reports,
// with helpers that wait for it under a deadline.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
	"gopkg.in/yaml.v3"
)

// DefaultTimeout is how long the Wait helpers wait.
const DefaultTimeout = 10 * time.Second

// Recorder is a driver.Sink that records declared fields, readings and
// errors. Its zero value is ready to use and it is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	changed  chan struct{}
	fields   map[string]driver.Field
	order    []string
	readings []protocol.Reading
	errs     []error
}

var _ driver.Sink = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// notify wakes waiters; r.mu must be held.
func (r *Recorder) notify() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// wake returns a channel closed on the next change; r.mu must be held.
func (r *Recorder) wake() <-chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// Declare records fields; a later declaration of a name replaces it.
func (r *Recorder) Declare(fields ...driver.Field) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fields == nil {
		r.fields = map[string]driver.Field{}
	}
	for _, f := range fields {
		if _, ok := r.fields[f.Name]; !ok {
			r.order = append(r.order, f.Name)
		}
		r.fields[f.Name] = f
	}
	r.notify()
}

// Emit records readings.
func (r *Recorder) Emit(readings ...protocol.Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readings = append(r.readings, readings...)
	r.notify()
}

// Error records an error.
func (r *Recorder) Error(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.notify()
}

// Fields returns the declared fields by name.
func (r *Recorder) Fields() map[string]driver.Field {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]driver.Field, len(r.fields))
	for k, v := range r.fields {
		out[k] = v
	}
	return out
}

// FieldNames returns the declared field names, sorted.
func (r *Recorder) FieldNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.order...)
	sort.Strings(out)
	return out
}

// Readings returns a copy of the readings in the order they were emitted.
func (r *Recorder) Readings() []protocol.Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]protocol.Reading(nil), r.readings...)
}

// Of returns the readings of one field.
func (r *Recorder) Of(field string) []protocol.Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.Reading
	for _, rd := range r.readings {
		if rd.Field == field {
			out = append(out, rd)
		}
	}
	return out
}

// Count returns the number of readings of one field.
func (r *Recorder) Count(field string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, rd := range r.readings {
		if rd.Field == field {
			c++
		}
	}
	return c
}

// Errors returns a copy of the reported errors.
func (r *Recorder) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// Len returns the number of readings so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.readings)
}

// Reset forgets readings and errors, keeping declared fields.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readings, r.errs = nil, nil
}

// WaitFor waits until cond holds or ctx ends. cond is evaluated after
// each change, without the recorder's lock, so it may call any method.
func (r *Recorder) WaitFor(ctx context.Context, cond func(r *Recorder) bool) error {
	for {
		r.mu.Lock()
		ch := r.wake()
		r.mu.Unlock()
		if cond(r) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NumErrors returns the number of errors so far.
func (r *Recorder) NumErrors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// NumFields returns the number of declared fields.
func (r *Recorder) NumFields() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fields)
}

func (r *Recorder) wait(t testing.TB, timeout time.Duration, what string, cond func(r *Recorder) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.WaitFor(ctx, cond); err != nil {
		r.mu.Lock()
		n, ne, nf := len(r.readings), len(r.errs), len(r.fields)
		last := ""
		if ne > 0 {
			last = fmt.Sprintf("; last error: %v", r.errs[ne-1])
		}
		r.mu.Unlock()
		t.Fatalf("timed out after %v waiting for %s (have %d readings, %d errors, %d fields%s)", timeout, what, n, ne, nf, last)
	}
}

// Wait waits up to DefaultTimeout for at least n readings and returns the
// readings so far; it fails the test on timeout.
func (r *Recorder) Wait(t testing.TB, n int) []protocol.Reading {
	t.Helper()
	return r.WaitTimeout(t, n, DefaultTimeout)
}

// WaitTimeout is Wait with its own deadline.
func (r *Recorder) WaitTimeout(t testing.TB, n int, timeout time.Duration) []protocol.Reading {
	t.Helper()
	r.wait(t, timeout, fmt.Sprintf("%d readings", n), func(r *Recorder) bool { return r.Len() >= n })
	return r.Readings()
}

// WaitFields waits for at least n declared fields and returns them.
func (r *Recorder) WaitFields(t testing.TB, n int) map[string]driver.Field {
	t.Helper()
	r.wait(t, DefaultTimeout, fmt.Sprintf("%d fields", n), func(r *Recorder) bool { return r.NumFields() >= n })
	return r.Fields()
}

// WaitErrors waits for at least n errors and returns them.
func (r *Recorder) WaitErrors(t testing.TB, n int) []error {
	t.Helper()
	r.wait(t, DefaultTimeout, fmt.Sprintf("%d errors", n), func(r *Recorder) bool { return r.NumErrors() >= n })
	return r.Errors()
}

// WaitField waits for at least n readings of one field and returns them.
func (r *Recorder) WaitField(t testing.TB, field string, n int) []protocol.Reading {
	t.Helper()
	r.wait(t, DefaultTimeout, fmt.Sprintf("%d readings of %s", n, field), func(r *Recorder) bool { return r.Count(field) >= n })
	return r.Of(field)
}

// Start runs d in a goroutine with a context cancelled when the test ends,
// and checks then that Run returned nil.
func Start(t testing.TB, d driver.Driver, sink driver.Sink) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(DefaultTimeout):
			t.Errorf("Run did not return within %v of cancel", DefaultTimeout)
		}
	})
	return cancel
}

// Decode builds the registered driver name from a YAML block the way the
// node does: strict decoding into the factory's value, then Init.
func Decode(name, block string) (driver.Driver, error) {
	reg, ok := driver.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("driver %q not registered", name)
	}
	d := reg.New()
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(d); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("driver %s: %w", name, err)
	}
	if in, ok := d.(driver.Initializer); ok {
		if err := in.Init(); err != nil {
			return nil, fmt.Errorf("driver %s: %w", name, err)
		}
	}
	return d, nil
}

// MustDecode is Decode that fails the test on error.
func MustDecode(t testing.TB, name, block string) driver.Driver {
	t.Helper()
	d, err := Decode(name, block)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// CheckSample decodes the driver's registered Sample block, failing the
// test when it does not decode strictly or does not pass Init.
func CheckSample(t testing.TB, name string) driver.Driver {
	t.Helper()
	reg, ok := driver.Lookup(name)
	if !ok {
		t.Fatalf("driver %q not registered", name)
	}
	if reg.Usage == "" || reg.Sample == "" {
		t.Fatalf("driver %q lacks Usage or Sample", name)
	}
	return MustDecode(t, name, reg.Sample)
}

// CheckInvalid fails the test for every block that decodes without error
// as the named driver's configuration.
func CheckInvalid(t testing.TB, name string, blocks []string) {
	t.Helper()
	for _, block := range blocks {
		if _, err := Decode(name, block); err == nil {
			t.Errorf("%q decoded without error", block)
		}
	}
}
