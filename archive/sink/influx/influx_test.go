package influx_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemesh/telemesh/archive"
	"github.com/telemesh/telemesh/archive/sink/influx"
	"github.com/telemesh/telemesh/archive/sinktest"
)

func open(t *testing.T, block string) *influx.Sink {
	t.Helper()
	s, err := influx.Open([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceVictoriaMetrics(t *testing.T) {
	e := sinktest.VictoriaMetrics(t)
	sinktest.Conformance(t, open(t, "type: influx\nname: vm\napi: vm\nurl: "+e.URL+"\n"), e)
}

func TestConformanceInfluxDB(t *testing.T) {
	e := sinktest.InfluxDB(t)
	sinktest.Conformance(t, open(t, "type: influx\nname: influx\nurl: "+e.URL+"\n"), e)
}

// TestFieldTypeConflict writes a string where InfluxDB holds floats: the
// sink reports the points as rejected (not retried), and the good ones of
// the batch are kept.
func TestFieldTypeConflict(t *testing.T) {
	e := sinktest.InfluxDB(t)
	s := open(t, "type: influx\nname: influx\nurl: "+e.URL+"\n")
	ctx := context.Background()
	now := time.Now().UnixNano()
	if err := s.Write(ctx, []archive.Point{{Node: "n", Field: "f", Time: now, Value: 1.5}}); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, []archive.Point{{Node: "n", Field: "f", Time: now + 1, Value: "text"}, {Node: "n", Field: "g", Time: now, Value: 2.0}})
	re, ok := archive.IsRejected(err)
	if !ok || re.Points != 1 || !strings.Contains(err.Error(), "field type conflict") {
		t.Fatalf("err = %v, want 1 point rejected for a field type conflict", err)
	}
	if got := e.Read(t)["n/g"]; len(got) != 1 {
		t.Errorf("good point of the rejected batch: %v", got)
	}
}

// TestOCSNaming writes with the ocs preset and reads the layout OCS's
// InfluxDB publisher makes: measurement = agent address, field = key,
// tag feed.
func TestOCSNaming(t *testing.T) {
	e := sinktest.InfluxDB(t)
	s := open(t, "type: influx\nname: ocs\nurl: "+e.URL+"\ndatabase: ocs_feeds\nnaming: {preset: ocs}\n")
	now := time.Now().Truncate(time.Second).UnixNano()
	pts := []archive.Point{
		{Node: "ocs", Field: "observatory.LSA22YE.channel_01_t", Timeline: "observatory.LSA22YE.temps", Time: now, Value: 4.2},
		{Node: "ocs", Field: "observatory.LSA22YE.channel_02_t", Timeline: "observatory.LSA22YE.temps", Time: now, Value: 40.0},
	}
	if err := s.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	got := sinktest.InfluxQuery(t, e.URL, "ocs_feeds", `SELECT "channel_01_t", "channel_02_t" FROM "observatory.LSA22YE" WHERE "feed" = 'temps'`)
	if len(got) != 1 || len(got[0].Values) != 1 || got[0].Values[0][1].(interface{ String() string }).String() != "4.2" || got[0].Values[0][2].(interface{ String() string }).String() != "40" {
		t.Fatalf("OCS layout: %+v", got)
	}
}

// TestHTTP checks gzip, auth headers and the classification of answers
// against a stand-in server: 5xx is retried (a plain error), 400 is a
// rejection, 413 splits the batch.
func TestHTTP(t *testing.T) {
	var calls, big atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Authorization") != "Token secret" ||
			r.URL.Path != "/api/v2/write" || r.URL.Query().Get("bucket") != "b" {
			http.Error(w, "bad request shape", http.StatusTeapot)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		body, _ := io.ReadAll(zr)
		if bytes.Count(body, []byte("\n")) > 2 {
			big.Add(1)
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := open(t, "type: influx\nname: v2\napi: v2\norg: o\nbucket: b\ntoken: secret\nurl: "+srv.URL+"\n")
	pts := sinktest.Points([]string{"n"}, []string{"f"}, time.Now(), 8)
	if err := s.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	if big.Load() == 0 || calls.Load() < 3 {
		t.Errorf("a too large batch was not split: %d calls, %d too large", calls.Load(), big.Load())
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	err := open(t, "type: influx\nname: d\nurl: "+down.URL+"\ncreate_database: false\n").Write(context.Background(), pts)
	if _, rejected := archive.IsRejected(err); err == nil || rejected {
		t.Errorf("503: err = %v, want a retryable error", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"type: influx\nname: x\n", "url: missing"},
		{"type: influx\nname: x\nurl: ftp://h\n", `url: "ftp://h" is not an http:// or https:// URL`},
		{"type: influx\nname: x\nurl: http://h\napi: v3\n", `api: "v3" is not v1, v2 or vm`},
		{"type: influx\nname: x\nurl: http://h\napi: v2\n", "org and bucket"},
		{"type: influx\nname: x\nurl: http://h\nusername: u\n", "password: missing"},
		{"type: influx\nname: x\nurl: http://h\nnaming: {preset: sisock}\n", `naming.preset: unknown preset "sisock"`},
		{"type: influx\nname: x\nurl: http://h\nnaming: {measurement: \"{agent}\"}\n", "naming.measurement"},
		{"type: influx\nname: x\nurl: http://h\nbatch: 3\n", "field batch not found"},
		{"type: influx\nname: x\nurl: http://h\nca_file: /nonexistent\n", "ca_file"},
	} {
		_, err := influx.Open([]byte(c.block))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.block, err, c.want)
		}
	}
}
