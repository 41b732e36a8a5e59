package drivertest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/telemesh/telemesh/datanodes/driver"
	"github.com/telemesh/telemesh/protocol"
)

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r.Declare(driver.Field{Name: "f", Units: "V"})
			for i := 0; i < 100; i++ {
				r.Emit(protocol.Reading{Field: "f", Time: int64(i), Value: float64(g)})
			}
			r.Error(errors.New("boom"))
		}(g)
	}
	got := r.Wait(t, 400)
	wg.Wait()
	if len(got) < 400 || len(r.Of("f")) != 400 {
		t.Fatalf("got %d readings", len(got))
	}
	if n := len(r.WaitErrors(t, 4)); n != 4 {
		t.Fatalf("errors = %d", n)
	}
	if f := r.WaitFields(t, 1)["f"]; f.Units != "V" {
		t.Fatalf("field = %+v", f)
	}
	r.Reset()
	if r.Len() != 0 || len(r.Errors()) != 0 || len(r.FieldNames()) != 1 {
		t.Fatal("reset did not clear readings")
	}
}

func TestWaitForDeadline(t *testing.T) {
	r := NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WaitFor(ctx, func(r *Recorder) bool { return r.Len() > 0 }); err == nil {
		t.Fatal("WaitFor returned nil on a cancelled context")
	}
}
