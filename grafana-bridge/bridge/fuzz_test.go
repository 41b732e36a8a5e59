package bridge

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzPaths are the endpoints that read a request body.
var fuzzPaths = []string{"/query", "/annotations", "/search", "/variable", "/tag-keys", "/tag-values", "/metrics", "/metric-payload-options"}

// FuzzRequestBody sends arbitrary bodies to every endpoint that reads one:
// the bridge never panics, answers JSON, and a failure is an error status
// with a message. Seeds: testdata/requests and testdata/fuzz.
func FuzzRequestBody(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	for i, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
	}
	s, err := NewServer(Config{MaxBodyBytes: 64 << 10}, newFakeSource(), nil)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		path := fuzzPaths[int(which)%len(fuzzPaths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s: answer is not JSON: %v: %q", path, err, rec.Body.String())
		}
		if rec.Code != http.StatusOK {
			m, ok := v.(map[string]any)
			if msg, _ := m["error"].(string); !ok || strings.TrimSpace(msg) == "" {
				t.Fatalf("%s: status %d without an error message: %s", path, rec.Code, rec.Body.String())
			}
		}
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusGatewayTimeout {
			t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body.String())
		}
	})
}
