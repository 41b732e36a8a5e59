package chunk

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleEncoder checks that the chunk encoder is kept while in use,
// that a second user at once gets its own, and that an idle one is let go
// so its 4 MB of tables go back to the collector.
func TestIdleEncoder(t *testing.T) {
	e := &idleEncoder{idle: time.Hour}
	a := e.get()
	b := e.get() // while a is lent out
	if a == b {
		t.Fatal("two users at once share one encoder")
	}
	// The tables are made at the first use.
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * i >> 7)
	}
	a.EncodeAll(data, nil)
	b.EncodeAll(data, nil)
	e.put(a)
	e.put(b) // one is kept, not both
	if got := e.get(); got != a {
		t.Error("the kept encoder was not reused")
	}
	e.put(a)
	e.drop() // not idle long enough: kept
	if got := e.get(); got != a {
		t.Error("an encoder in use was dropped")
	}
	e.put(a)
	e.mu.Lock()
	e.used = time.Now().Add(-2 * time.Hour)
	e.mu.Unlock()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.drop()
	a, b = nil, nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	if e.enc != nil {
		t.Fatal("an idle encoder was kept")
	}
	if freed := int64(before.HeapAlloc) - int64(after.HeapAlloc); freed < 4<<20 {
		t.Errorf("dropping the idle encoders freed %d bytes, want their tables (4 MB or more)", freed)
	}
	e.timer.Stop()
}
