package router

import (
	"net/http"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "http://x", true},
		{"*", "", true},
		{"http://x", "http://x", true},
		{"http://x", "http://x:1", false},
		{"https://*.example.org", "https://a.b.example.org", true},
		{"https://*.example.org", "https://example.org", false},
		{"http://*:8080", "http://h:8080", true},
		{"http://*:8080", "http://h:8081", false},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"a**b", "ab", true},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// FuzzOriginPolicy: no Origin or Host header makes the check panic, and a
// cross-origin request is never admitted by the default policy.
func FuzzOriginPolicy(f *testing.F) {
	for _, s := range [][2]string{{"http://evil", "evil"}, {"null", "127.0.0.1:8080"}, {"http://[::1]:80", "[::1]:80"}, {"%", ""}, {"http://a:b:c", "a:b:c"}} {
		f.Add(s[0], s[1])
	}
	c := newOriginChecker(OriginPolicy{}, "127.0.0.1:8080", nil)
	star := newOriginChecker(OriginPolicy{AllowedOrigins: []string{"https://*.example.org", "*x*"}}, "", nil)
	f.Fuzz(func(t *testing.T, origin, host string) {
		r := &http.Request{Header: http.Header{"Origin": {origin}}, Host: host}
		if c.allowed(r) && origin != "" && origin != "null" && !c.trustedHost(host) {
			t.Fatalf("Origin %q Host %q admitted with an untrusted host", origin, host)
		}
		star.allowed(r)
	})
}
