package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/protocol"
)

// The write path under pressure: what the store does while it cannot
// write (a full disk, an I/O error), and how it reports it.

// failure is the store's failing state; guarded by mu.
type failure struct {
	err   error     // the last flush's error; nil while flushes succeed
	since time.Time // when flushes began to fail
	retry time.Time // the flusher's next attempt
	delay time.Duration
	// dropLogged is when dropped readings were last logged.
	dropLogged time.Time
	dropsSince int64 // dropped readings not logged yet
}

// failed puts the store in its failing state after a flush failed with
// err, which it returns. A cancelled context is no failure of the store.
func (s *Store) failed(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	first := s.fail.err == nil
	if first {
		s.fail.since = now
	}
	s.fail.err = err
	s.fail.delay = min(max(2*s.fail.delay, s.o.FlushInterval), maxRetryDelay)
	s.fail.retry = now.Add(s.fail.delay)
	s.ws.FlushFailures++
	buffered := s.buf.n
	s.mu.Unlock()
	if first {
		s.log.Error("store cannot write; keeping readings in memory and retrying, stored data stays readable",
			"err", err, "buffered", buffered, "max_buffered", s.o.MaxBuffered, "spill_dir", s.o.SpillDir)
	}
	return err
}

// recovered leaves the failing state after a flush committed everything.
func (s *Store) recovered() {
	s.mu.Lock()
	was, since := s.fail.err, s.fail.since
	if was != nil {
		s.fail = failure{dropLogged: s.fail.dropLogged, dropsSince: s.fail.dropsSince}
	}
	s.mu.Unlock()
	if was != nil {
		s.log.Info("store writes again; every buffered and spilled reading is written", "failing_for", time.Since(since).Round(time.Millisecond).String())
	}
}

// failing returns the last flush's error while flushes fail.
func (s *Store) failing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail.err != nil {
		return fmt.Errorf("store cannot write since %s: %w", s.fail.since.UTC().Format(time.RFC3339), s.fail.err)
	}
	return nil
}

// backingOff reports whether the flusher should wait before retrying.
func (s *Store) backingOff(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail.err != nil && now.Before(s.fail.retry)
}

// makeRoom empties the buffer, which has reached MaxBuffered: by a flush
// if the store writes, else into a spill file.
func (s *Store) makeRoom(ctx context.Context) error {
	if s.failing() == nil {
		if err := s.Flush(ctx); err == nil {
			return nil
		}
	}
	return s.spill()
}

// spill moves the buffer into a new spill file. No flush runs meanwhile,
// so the file holds readings appended after every one already spilled or
// committed, and before every one still buffered.
func (s *Store) spill() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b, since := s.takeBuffer()
	if b.n == 0 {
		return nil
	}
	sf, err := writeSpill(s.o.SpillDir, s.path, b)
	s.mu.Lock()
	s.release(b, since, err != nil)
	if err == nil {
		s.spills = append(s.spills, sf)
		s.ws.SpilledTotal += int64(sf.n)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spilling %d readings to %s: %w", b.n, s.o.SpillDir, err)
	}
	s.log.Warn("write buffer full while the store cannot write: readings moved to a spill file", "readings", sf.n, "file", sf.path)
	return nil
}

// drop counts and reports readings refused because the buffer is full and
// could not be spilled (cause); the error returned names the count.
func (s *Store) drop(batch []protocol.Series, n int, cause error) error {
	now := time.Now()
	s.mu.Lock()
	s.ws.Dropped += int64(n)
	s.fail.dropsSince += int64(n)
	total, pending := s.ws.Dropped, s.fail.dropsSince
	logNow := now.Sub(s.fail.dropLogged) >= 10*time.Second
	if logNow {
		s.fail.dropLogged, s.fail.dropsSince = now, 0
	}
	s.mu.Unlock()
	if logNow {
		s.log.Error("write buffer full and readings cannot be spilled: readings dropped",
			"dropped", pending, "dropped_total", total, "max_buffered", s.o.MaxBuffered, "err", cause, "batch", describe(batch))
	}
	return protocol.Errorf(protocol.Unavailable, "store cannot write and its buffer of %d readings is full (%v): %d readings dropped", s.o.MaxBuffered, cause, n)
}

// describe lists each series' field, count and time range, for a log.
func describe(batch []protocol.Series) string {
	var parts []string
	for _, sr := range batch {
		var sp span
		sp.add(sr.Times)
		if sp.n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d from %s to %s", sr.Field, sp.n, fmtTime(sp.lo), fmtTime(sp.hi)))
		}
	}
	return strings.Join(parts, "; ")
}

// spillAtClose keeps the buffer in a spill file when the last flush
// failed with cause; if it cannot, it logs exactly what is lost. It
// returns the error Close reports.
func (s *Store) spillAtClose(cause error) error {
	s.mu.Lock()
	lost := s.buf.fieldSpans()
	n := s.buf.n
	s.mu.Unlock()
	if n == 0 {
		return cause
	}
	if err := s.spill(); err != nil {
		var parts []string
		for name, sp := range lost {
			parts = append(parts, fmt.Sprintf("%s: %d from %s to %s", name, sp.n, fmtTime(sp.lo), fmtTime(sp.hi)))
		}
		slices.Sort(parts)
		s.log.Error("store closed without writing its buffer: readings lost", "lost", n, "fields", strings.Join(parts, "; "), "err", cause, "spill_err", err)
		return fmt.Errorf("%w; %d readings lost (%v)", cause, n, err)
	}
	s.mu.Lock()
	path := s.spills[len(s.spills)-1].path
	s.mu.Unlock()
	s.log.Warn("store closed without writing its buffer: readings kept in a spill file, written at the next start", "readings", n, "file", path)
	return fmt.Errorf("%w; %d readings kept in %s", cause, n, path)
}

// writeSpills writes the spill files into the database, oldest first,
// one transaction each, removing each once committed. The caller holds
// writeMu.
func (s *Store) writeSpills(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.spills) == 0 {
			s.mu.Unlock()
			return nil
		}
		sf := s.spills[0]
		s.mu.Unlock()
		b, err := readSpill(sf.path)
		if err != nil {
			// Left in place for a person to look at; never retried.
			s.log.Error("cannot read a spill file; its readings are not written", "file", sf.path, "readings", sf.n, "err", err)
			s.mu.Lock()
			s.spills = s.spills[1:]
			s.mu.Unlock()
			continue
		}
		if err := s.write(ctx, b.series); err != nil {
			clear(s.heads)
			return fmt.Errorf("write spill file %s: %w", sf.path, err)
		}
		if err := os.Remove(sf.path); err != nil {
			s.log.Warn("cannot remove a written spill file; it would be written again at the next start", "file", sf.path, "err", err)
		}
		s.mu.Lock()
		s.spills = s.spills[1:]
		s.mu.Unlock()
		s.log.Info("spilled readings written", "readings", sf.n, "file", sf.path)
	}
}

// openSpills finds the spill files a previous run left, for the flusher
// to write.
func (s *Store) openSpills() error {
	files, bad := findSpills(s.o.SpillDir, s.path)
	for _, err := range bad {
		s.log.Error("cannot read a spill file; it is left in place", "err", err)
	}
	if len(files) == 0 {
		return nil
	}
	n := 0
	for _, f := range files {
		n += f.n
	}
	s.spills = files
	s.log.Info("writing readings spilled by an earlier run", "readings", n, "files", len(files), "spill_dir", s.o.SpillDir)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// unwrittenSpans returns, per field, the span of readings not in the
// database yet.
func (s *Store) unwrittenSpans() map[string]span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.buf.fieldSpans()
	add := func(spans map[string]span) {
		for f, sp := range spans {
			out[f] = out[f].merge(sp)
		}
	}
	for _, b := range s.out {
		add(b.fieldSpans())
	}
	for _, sf := range s.spills {
		add(sf.spans)
	}
	return out
}

// unwritten fails, with an Unavailable error naming them, when fields
// have readings in [start, end) that are not in the database yet; stored
// data outside those spans stays readable while the store cannot write.
func (s *Store) unwritten(fields []string, start, end int64) error {
	err := s.failing()
	spans := s.unwrittenSpans()
	var parts []string
	for _, f := range fields {
		sp, ok := spans[f]
		if ok && sp.n > 0 && sp.lo < end && sp.hi >= start {
			parts = append(parts, fmt.Sprintf("field %s has %d readings from %s to %s not written yet", f, sp.n, fmtTime(sp.lo), fmtTime(sp.hi)))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	if err == nil {
		err = errors.New("a flush is under way")
	}
	return protocol.Errorf(protocol.Unavailable, "%s (%v); earlier data stays readable", strings.Join(parts, "; "), err)
}

// WriteStats returns the state of the store's write path.
func (s *Store) WriteStats() store.WriteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.ws
	ws.Buffered = int64(s.buf.n)
	for _, b := range s.out {
		ws.Buffered += int64(b.n)
	}
	for _, sf := range s.spills {
		ws.Spilled += int64(sf.n)
	}
	ws.MaxBuffered = int64(s.o.MaxBuffered)
	if s.fail.err != nil {
		ws.Problem = s.fail.err.Error()
		ws.FailingSince = s.fail.since
	}
	return ws
}
