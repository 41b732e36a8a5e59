package hub

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
)

// TestStateRoundTrip: what a directory keeps reads back the same from the
// state file, placeholders excluded and unapplied records included.
func TestStateRoundTrip(t *testing.T) {
	d := NewDirectory(DefaultNamePolicy, 0)
	now := time.Unix(1_800_000_000, 0)
	a := withFields(ann("n1", 1, "n1", "datanode"), "x")
	a.Meta, a.HasMeta = map[string]any{"version": "1.0"}, true
	d.Add(a, now, nil)
	d.Restore(map[string]Record{"pending": {Description: "not yet reconciled", Session: 9}})
	before := d.Changes()
	d.Add(a, now.Add(time.Second), nil) // a repetition: nothing to save
	if d.Changes() != before {
		t.Error("an unchanged repetition counts as a change")
	}
	want := d.Records()
	if len(want) != 2 || want["n1"].Description != "n1 node" || want["n1"].AuthID != "n1" || want["pending"].Session != 9 {
		t.Fatalf("records %+v", want)
	}
	path := filepath.Join(t.TempDir(), "sub", "hub-state.json")
	b, err := encodeState(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v\nwant %+v", got, want)
	}
	d.Reconcile(d.Sessions(), map[uint64]bool{1: true, 2: true}, map[string]uint64{"n1": 1, "other": 2}, now)
	if r := d.Records(); len(r) != 1 || r["n1"].Session != 1 {
		t.Errorf("after reconcile, records %+v; want n1 only (no placeholder, no stale record)", r)
	}
}

func TestLoadState(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          string // names read, or "error"
	}{
		{"missing", "", ""},
		{"corrupt", `{"version": 1, "nodes": {`, "error"},
		{"not an object", `[1, 2]`, "error"},
		{"other version", `{"version": 2, "nodes": {}}`, "error"},
		{"bad entries skipped", `{"version": 1, "nodes": {"ok": {"session": 5}, "a.b": {"session": 6}, "nosession": {}}}`, "ok"},
		{"unreadable", "<dir>", "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			switch tc.content {
			case "":
			case "<dir>":
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r, err := loadState(path)
			got := ""
			if err != nil {
				got = "error"
			}
			for name := range r {
				got += name
			}
			if got != tc.want {
				t.Errorf("read %q (err %v), want %q", got, err, tc.want)
			}
		})
	}
}

// TestHubCorruptStateFile: a hub whose state file is corrupt says so once,
// serves anyway and replaces the file with a good one on the first change.
func TestHubCorruptStateFile(t *testing.T) {
	e := newEnv(t, protocol.DefaultNames())
	path := filepath.Join(t.TempDir(), "hub-state.json")
	if err := os.WriteFile(path, []byte("\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	e.startHubWith(func(c *Config) {
		c.StateFile = path
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	a := e.node("alpha")
	if ok, err := e.add(a, "alpha", "first", 0, nil); !ok || err != nil {
		t.Fatalf("add = %v, %v", ok, err)
	}
	testutil.Eventually(t, 10*time.Second, "the state file to be rewritten", func() bool {
		r, err := loadState(path)
		return err == nil && r["alpha"].Description == "first"
	})
	if n := strings.Count(logs.String(), "ignoring the hub state file"); n != 1 {
		t.Errorf("corrupt state file logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestStateSaverWritesOnlyChanges: an offer equal to what the file holds
// does not touch it.
func TestStateSaverWritesOnlyChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub-state.json")
	r := map[string]Record{"n1": {Description: "d", Session: 1}}
	b, _ := encodeState(r)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1_000_000_000, 0)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s := newStateSaver(path, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx, b); close(done) }()
	s.offer(map[string]Record{"n1": {Description: "d", Session: 1}})
	cancel()
	<-done
	if fi, err := os.Stat(path); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("an unchanged state rewrote the file (%v)", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { s.run(ctx, b); close(done) }()
	s.offer(map[string]Record{"n1": {Description: "changed", Session: 1}})
	cancel()
	<-done
	if got, err := os.ReadFile(path); err != nil || bytes.Equal(got, b) || !bytes.Contains(got, []byte("changed")) {
		t.Errorf("file after a change: %s (%v)", got, err)
	}
}
