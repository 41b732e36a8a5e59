package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"database/sql"
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
