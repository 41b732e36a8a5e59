package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

const hourRange = `"range":{"from":"2023-11-14T22:13:20Z","to":"2023-11-14T23:13:20Z"}`

// TestAmplificationBounded: copies of one target are answered once, a
// request may not ask for more than MaxTargets series, and a request's
// points stay within MaxRequestPoints whatever maxDataPoints says.
func TestAmplificationBounded(t *testing.T) {
	ts := newTestServer(t, Config{}, newFakeSource())
	copies := strings.Repeat(`{"target":"sim::co2","refId":"A"},`, 5000)
	body := []byte(`{` + hourRange + `,"maxDataPoints":1000,"targets":[` + copies + `{"target":"sim::co2","refId":"A"}]}`)
	if len(body) < 150<<10 {
		t.Fatalf("body %d bytes, want a large one", len(body))
	}
	code, b := post(t, ts.URL+"/query", body)
	var out []timeserie
	if err := json.Unmarshal(b, &out); code != 200 || err != nil || len(out) != 1 {
		t.Fatalf("5001 copies: %d, %d series (%v), want one", code, len(out), err)
	}
	// 101 distinct queries of the same target: over the limit of 100.
	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprintf(`{"target":"sim::co2","refId":"R%d"}`, i))
	}
	code, b = post(t, ts.URL+"/query", []byte(`{`+hourRange+`,"maxDataPoints":1000,"targets":[`+strings.Join(many, ",")+`]}`))
	if code != 400 || !strings.Contains(string(b), "more than 100 series") {
		t.Fatalf("101 series: %d %s", code, b)
	}
	// 100 series of 1 Hz data at maxDataPoints 100000: the answer is cut
	// to MaxRequestPoints in all.
	src := newFakeSource()
	src.nodes["sim"]["fast"] = fakeField{src.nodes["sim"]["co2"].info, 1, func(float64) any { return 1.0 }}
	ts = newTestServer(t, Config{MaxRequestPoints: 20000}, src)
	many = many[:0]
	for i := range 100 {
		many = append(many, fmt.Sprintf(`{"target":"sim::fast","refId":"R%d","payload":{"agg":"minmax"}}`, i))
	}
	code, b = post(t, ts.URL+"/query", []byte(`{`+hourRange+`,"maxDataPoints":100000,"targets":[`+strings.Join(many, ",")+`]}`))
	out = nil
	if err := json.Unmarshal(b, &out); code != 200 || err != nil || len(out) != 100 {
		t.Fatalf("100 series: %d %v", code, err)
	}
	total := 0
	for _, se := range out {
		total += len(se.Datapoints)
	}
	if total == 0 || total > 20000 {
		t.Errorf("%d points in all, want 1..20000", total)
	}
}

// TestAuthOnByDefaultOffLoopback: a bridge on a non-loopback address needs
// credentials, or an explicit AllowAnonymous; a token file is created with
// a random token when missing and then required.
func TestAuthOnByDefaultOffLoopback(t *testing.T) {
	if _, err := NewServer(Config{Listen: "0.0.0.0:5000"}, newFakeSource(), nil); err == nil || !strings.Contains(err.Error(), "--no-auth") {
		t.Errorf("0.0.0.0 without auth: %v", err)
	}
	for _, ok := range []Config{{Listen: "127.0.0.1:0"}, {Listen: "[::1]:0"}, {Listen: "localhost:0"}, {},
		{Listen: "0.0.0.0:5000", AllowAnonymous: true}, {Listen: ":5000", AuthToken: "x"}, {Listen: ":5000", BasicUser: "u", BasicPassword: "p"}} {
		if _, err := NewServer(ok, newFakeSource(), nil); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	file := filepath.Join(t.TempDir(), "bridge-token")
	cfg := Config{Listen: "0.0.0.0:0", AuthTokenFile: file}
	created, err := cfg.Ensure()
	if err != nil || created != file || len(cfg.AuthToken) != 48 {
		t.Fatalf("Ensure: %v %q %q", err, created, cfg.AuthToken)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	again := Config{Listen: "0.0.0.0:0", AuthTokenFile: file}
	if created, err := again.Ensure(); err != nil || created != "" || again.AuthToken != cfg.AuthToken {
		t.Fatalf("second Ensure: %v %q", err, created)
	}
	ts := newTestServer(t, Config{Listen: "0.0.0.0:0", AuthTokenFile: file}, newFakeSource())
	if code, _ := post(t, ts.URL+"/search", []byte(`{}`)); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := post(t, ts.URL+"/search", []byte(`{}`), "Authorization", "Bearer "+cfg.AuthToken); code != 200 {
		t.Errorf("token: %d", code)
	}
}

// TestServerTimeouts: a peer that sends a body too slowly or keeps an idle
// connection loses it, instead of holding a file descriptor.
func TestServerTimeouts(t *testing.T) {
	s, err := NewServer(Config{Listen: "127.0.0.1:0", ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, newFakeSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()
	addr := s.Addr().String()
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	// A body that never comes.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	if !closedWithin(slow, 5*time.Second) {
		t.Error("slow body: connection still open")
	}
	// An idle keep-alive connection after one request.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	resp.Body.Close()
	if !closedWithin(idle, 5*time.Second) {
		t.Error("idle keep-alive: connection still open")
	}
}

func TestParseSpec(t *testing.T) {
	for _, c := range []struct {
		spec          string
		nodes, fields string // "*" for every
	}{
		{"sim::co2", "sim", "co2"},
		{"{sim,lab}::co2", "sim lab", "co2"},
		{"(sim|lab)::co2", "sim lab", "co2"},
		{`sim::(t\.1|adc:0)`, "sim", "t.1 adc:0"},
		{`sim::t\.1`, "sim", "t.1"},
		{"*::co2", "*", "co2"},
		{".*::co2", "*", "co2"},
		{"sim::*", "sim", "*"},
		{"{sim,*}::co2", "*", "co2"},
		{"{sim,sim}::{co2,t}", "sim", "co2 t"},
		{" sim :: co2 ", "sim", "co2"},
	} {
		n, f, err := ParseSpec(c.spec)
		join := func(xs []string) string {
			if xs == nil {
				return "*"
			}
			return strings.Join(xs, " ")
		}
		if err != nil || join(n) != c.nodes || join(f) != c.fields {
			t.Errorf("%q: %v %v %v, want %s :: %s", c.spec, n, f, err, c.nodes, c.fields)
		}
	}
	for _, bad := range []string{"sim", "{sim,lab!}::co2", "(a b)::x", "sim::", "::co2", "{}::co2"} {
		if _, _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := SplitSpecs("{sim,lab}::co2, sim::t,,"); strings.Join(got, "|") != "{sim,lab}::co2|sim::t" {
		t.Errorf("SplitSpecs: %q", got)
	}
}

// TestEvents: a value that stays the same is one event, not one per
// sample (the limit: TestAnnotationsLimit).
func TestEvents(t *testing.T) {
	se := Series{Target: Target{"sim", "door"}, Series: protocol.Series{Times: []int64{1, 2, 3, 4, 5, 6, 7},
		Values: protocol.Numbers(0, 1, 1, 1, 0, 2, 3)}}
	evs := valueEvents([]Series{se})
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d=%s", e.Time, e.Text))
	}
	if strings.Join(got, " ") != "2=1 6=2 7=3" {
		t.Errorf("events %v", got)
	}
}
