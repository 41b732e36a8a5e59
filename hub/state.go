package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/telemesh/telemesh/protocol"
)

// stateVersion is the format of the state file.
const stateVersion = 1

// stateDoc is the state file: the directory's records by node name.
type stateDoc struct {
	Version int               `json:"version"`
	Nodes   map[string]Record `json:"nodes"`
}

// loadState reads a state file. A missing file is an empty state; a file
// that cannot be read or decoded is an error (the hub logs it and starts
// empty). Records with an invalid name or no session are skipped.
func loadState(path string) (map[string]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, this hub reads %d", path, doc.Version, stateVersion)
	}
	out := make(map[string]Record, len(doc.Nodes))
	for name, r := range doc.Nodes {
		if protocol.ValidNodeName(name) && r.Session != 0 {
			out[name] = r
		}
	}
	return out, nil
}

// encodeState returns the bytes of a state file.
func encodeState(r map[string]Record) ([]byte, error) {
	return json.MarshalIndent(stateDoc{Version: stateVersion, Nodes: r}, "", "  ")
}

// A stateSaver writes the directory's records to the state file from its
// own goroutine, so that the hub never waits on the disk under its lock:
// the hub offers the latest records, the saver writes the last offered
// whenever they differ from what the file holds.
type stateSaver struct {
	path string
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	pending map[string]Record
	offered bool
}

func newStateSaver(path string, log *slog.Logger) *stateSaver {
	return &stateSaver{path: path, log: log, kick: make(chan struct{}, 1)}
}

// offer queues records for saving, replacing any not yet written; it
// never blocks.
func (s *stateSaver) offer(r map[string]Record) {
	s.mu.Lock()
	s.pending, s.offered = r, true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run saves what is offered until ctx ends, then saves the last offer;
// written is what the file holds at the start.
func (s *stateSaver) run(ctx context.Context, written []byte) {
	failing := false
	for {
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-s.kick:
		}
		s.mu.Lock()
		r, ok := s.pending, s.offered
		s.pending, s.offered = nil, false
		s.mu.Unlock()
		if ok {
			b, err := encodeState(r)
			if err == nil && !bytes.Equal(b, written) {
				err = writeFileAtomic(s.path, b)
			}
			switch {
			case err != nil && !failing:
				s.log.Warn("cannot save the hub state file; node descriptions will not survive a hub restart", "path", s.path, "err", err)
			case err == nil && failing:
				s.log.Info("hub state file saved again", "path", s.path)
			}
			failing = err != nil
			if err == nil {
				written = b
			}
		}
		if stop {
			return
		}
	}
}

// writeFileAtomic replaces path with b through a synced temporary file in
// the same folder and a rename, so that a crash leaves the old file or
// the new one, never a part.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
