package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/sink/postgres"
	"github.com/telemesh/telemesh/archive/sinktest"
)

func open(t *testing.T, block string) *postgres.Sink {
	t.Helper()
	s, err := postgres.Open([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	e := sinktest.Postgres(t)
	sinktest.Conformance(t, open(t, "type: postgres\nname: pg\ndsn: "+e.URL+"\n"), e)
}

// TestTableAndTypes checks the table made on first write (its key fits
// time-range reads of one series) and that strings and bools are kept.
func TestTableAndTypes(t *testing.T) {
	e := sinktest.Postgres(t)
	s := open(t, "type: postgres\nname: pg\ndsn: "+e.URL+"\n")
	ctx := context.Background()
	now := time.Now().UnixNano()
	err := s.Write(ctx, []archive.Point{
		{Node: "n", Field: "state", Time: now, Value: "open"},
		{Node: "n", Field: "ok", Time: now, Value: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var def string
	if err := s.Pool().QueryRow(ctx, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'telemesh_points'::regclass AND indisprimary`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "(node, field, \"time\")") {
		t.Errorf("primary key %s does not lead with node, field, time", def)
	}
	var txt string
	var b float64
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT text_value FROM telemesh_points WHERE field = 'state'), (SELECT value FROM telemesh_points WHERE field = 'ok')`).Scan(&txt, &b); err != nil {
		t.Fatal(err)
	}
	if txt != "open" || b != 1 {
		t.Errorf("string %q, bool %v", txt, b)
	}
	if s.Hypertable() {
		t.Error("hypertable without timescaledb")
	}
}

// TestUnreachable: a sink whose server is down opens, and its writes fail
// with a retryable error.
func TestUnreachable(t *testing.T) {
	s := open(t, "type: postgres\nname: pg\ndsn: postgres://nobody@127.0.0.1:1/x?connect_timeout=2\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Write(ctx, sinktest.Points([]string{"n"}, []string{"f"}, time.Now(), 1))
	if _, rejected := archive.IsRejected(err); err == nil || rejected {
		t.Errorf("err = %v, want a retryable error", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"type: postgres\nname: x\n", "dsn: missing"},
		{"type: postgres\nname: x\ndsn: \"postgres://h:notaport/x\"\n", "dsn:"},
		{"type: postgres\nname: x\ndsn: postgres://h/x\ntable: \"a; drop\"\n", "table:"},
		{"type: postgres\nname: x\ndsn: postgres://h/x\ntimescaledb: maybe\n", `timescaledb: "maybe"`},
		{"type: postgres\nname: x\ndsn: postgres://h/x\npassword_file: /nonexistent\n", "password_file:"},
	} {
		_, err := postgres.Open([]byte(c.block))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.block, err, c.want)
		}
	}
}
