package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAssets(t *testing.T) {
	h := Handler(Options{})
	tests := []struct {
		path, ctype, contains string
		status                int
	}{
		{"/", "text/html; charset=utf-8", `<script src="app.js?v=`, 200},
		{"/index.html", "text/html; charset=utf-8", `<link rel="stylesheet" href="app.css?v=`, 200},
		{"/app.js", "text/javascript; charset=utf-8", "__telemeshStats", 200},
		{"/app.css", "text/css; charset=utf-8", ".uplot", 200},
		{"/config.json", "application/json", `"realm":"telemesh"`, 200},
		{"/nope.js", "", "", 404},
		{"/../web.go", "", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, h, "GET", tt.path, nil)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := r.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if b := body(t, r); !strings.Contains(b, tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	h := Handler(Options{Realm: "test_realm", Base: "org.simonsobservatory", WSPath: "/router/ws"})
	r := get(t, h, "GET", "/config.json", nil)
	if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	var c map[string]string
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"realm": "test_realm", "base": "org.simonsobservatory", "ws_path": "/router/ws"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("config.json %s = %q, want %q", k, c[k], v)
		}
	}
	if len(c) != len(want) {
		t.Errorf("config.json has %d keys, want %d: %v", len(c), len(want), c)
	}

	d := get(t, Handler(Options{}), "GET", "/config.json", nil)
	if b := body(t, d); b != `{"realm":"telemesh","base":"telemesh","ws_path":"/ws"}` {
		t.Errorf("default config.json = %s", b)
	}
}

func TestCaching(t *testing.T) {
	h := Handler(Options{})
	idx := body(t, get(t, h, "GET", "/", nil))
	m := regexp.MustCompile(`src="(app\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(idx)
	if m == nil {
		t.Fatalf("index.html has no versioned app.js URL:\n%s", idx)
	}
	r := get(t, h, "GET", "/"+m[1], nil)
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned asset Cache-Control %q, want immutable", cc)
	}
	if cc := get(t, h, "GET", "/app.js?v=stale", nil).Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("stale version Cache-Control %q, want no-cache", cc)
	}
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if got := get(t, h, "GET", "/app.js", map[string]string{"If-None-Match": etag}).StatusCode; got != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", got)
	}
	if csp := get(t, h, "GET", "/", nil).Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws: wss:") {
		t.Errorf("CSP %q", csp)
	}
}

func TestMethods(t *testing.T) {
	h := Handler(Options{})
	if r := get(t, h, "POST", "/config.json", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", r.StatusCode)
	}
	r := get(t, h, "HEAD", "/app.js", nil)
	if r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD: status %d", r.StatusCode)
	}
}
