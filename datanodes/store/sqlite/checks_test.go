package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/datanodes/store"
	"github.com/telemesh/telemesh/datanodes/store/storetest"
	"github.com/telemesh/telemesh/protocol"
)

// Start-up checks: each bad file or directory is refused with one line
// naming the file and the problem.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	made := func(name string, prep func(db *sql.DB)) string {
		p := filepath.Join(dir, name)
		s := open(t, p, Options{})
		for i := range 200 {
			if _, err := s.db.Exec("INSERT INTO series (name) VALUES (?)", strings.Repeat("x", 200)+string(rune('a'+i%26))+strings.Repeat("y", i)); err != nil {
				t.Fatal(err)
			}
		}
		if prep != nil {
			prep(s.db)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newer := made("newer.db", func(db *sql.DB) {
		if _, err := db.Exec("PRAGMA user_version = 7"); err != nil {
			t.Fatal(err)
		}
	})
	corrupt := made("corrupt.db", nil)
	b, err := os.ReadFile(corrupt)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the interior pages, not the header.
	for i := 4096 + 100; i < len(b) && i < 4096*6; i += 7 {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(corrupt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"newer schema", newer, "schema version 7 is newer"},
		{"corrupt pages", corrupt, "corrupt"},
		{"not a database", junk, "not a sound SQLite database"},
		{"missing directory", filepath.Join(dir, "missing", "x.db"), "no such file or directory"},
		{"a directory", dir, "is a directory"},
	}
	if _, err := os.Stat("/proc/self"); err == nil {
		tests = append(tests, struct{ name, path, want string }{"unwritable directory", "/proc/telemesh.db", "data directory /proc is not writable"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, Options{}, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", tc.path)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.path) || strings.Contains(msg, "\n") {
				t.Errorf("Open(%s) = %q, want one line naming the file and %q", tc.path, msg, tc.want)
			}
		})
	}
}

func TestOpenRefusesReadOnlyFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which may write a read-only file")
	}
	p := filepath.Join(t.TempDir(), "ro.db")
	s := open(t, p, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o444); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(p, Options{}, nil); err == nil || !strings.Contains(err.Error(), "not writable") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a read-only file = %v", err)
	}
}

// TestCorruptChunk damages and truncates stored chunks and pages: queries
// that need them fail naming the field and the time range, and other
// fields answer as before.
func TestCorruptChunk(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "store.db"), Options{})
	defer s.Close()
	var rs []protocol.Reading
	for sec := range 3600 {
		rs = append(rs, protocol.Reading{Field: "a", Time: storetest.S(float64(sec)), Value: float64(sec) / 8},
			protocol.Reading{Field: "b", Time: storetest.S(float64(sec)), Value: float64(sec)})
	}
	if err := s.Append(ctx, storetest.Columns(t, rs...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	whole := store.Query{Fields: []string{"b"}, Start: storetest.T0, End: storetest.S(3600)}
	want, err := s.Query(ctx, whole)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []string{
		"UPDATE chunks SET data = substr(data, 1, 10) || x'ff' || substr(data, 12) WHERE series_id = 1 AND start_ts = (SELECT min(start_ts) FROM chunks WHERE series_id = 1)",
		"UPDATE chunks SET data = substr(data, 1, length(data) - 3) WHERE series_id = 1",
	} {
		if _, err := s.db.Exec(damage); err != nil {
			t.Fatal(err)
		}
		_, err := s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.T0, End: storetest.S(3600)})
		if err == nil || !strings.Contains(err.Error(), "field a: chunk of readings from 2023-11-14T22:") || !strings.Contains(err.Error(), "corrupt chunk") {
			t.Errorf("query over a damaged chunk: %v", err)
		}
		got, err := s.Query(ctx, whole)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, want, got)
	}
	if _, err := s.db.Exec("UPDATE rollups SET data = substr(data, 2) WHERE series_id = 1 AND tier = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Query(ctx, store.Query{Fields: []string{"a"}, Start: storetest.T0, End: storetest.S(3600), Bucket: int64(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "field a: minute rollup page from 2023-11-14T") {
		t.Errorf("query over a damaged page: %v", err)
	}
	if _, err := s.Query(ctx, store.Query{Fields: []string{"b"}, Start: storetest.T0, End: storetest.S(3600), Bucket: int64(time.Minute)}); err != nil {
		t.Errorf("other field's minutes: %v", err)
	}
}
