package router

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

// OriginPolicy says which browser pages may open a WebSocket or use an HTTP
// bridge path of a listener, as crossbar's allowed_origins and
// allow_null_origin options do, plus a Host check against DNS rebinding.
//
// A request without an Origin header (every non-browser client) is always
// admitted. Otherwise the Origin is admitted when it matches AllowedOrigins
// (crossbar patterns: "*" matches any run of characters, so "*" admits
// every origin and "https://*.example.org" a domain), when it is "null" (a
// page opened from a file, a sandboxed frame) and AllowNullOrigin is set,
// or when it is the same origin as the request's Host and that Host is one
// of the listener's names. Without AllowedOrigins only the last rule applies.
type OriginPolicy struct {
	// AllowedOrigins are the admitted origins ("scheme://host[:port]"
	// patterns); empty admits same-origin pages only.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowNullOrigin admits the origin "null".
	AllowNullOrigin bool `yaml:"allow_null_origin"`
	// Hosts are the names this listener is reached by, for the same-origin
	// rule. IP literals, localhost, the machine's host name and the
	// listener's own address are always names of the listener; "*" admits
	// any Host (no DNS rebinding protection).
	Hosts []string `yaml:"hosts"`
}

// Check validates the patterns.
func (p OriginPolicy) Check() error {
	for _, o := range p.AllowedOrigins {
		if o == "" {
			return fmt.Errorf("allowed_origins: empty pattern")
		}
	}
	return nil
}

// originChecker applies an OriginPolicy for one listener address.
type originChecker struct {
	policy   OriginPolicy
	names    map[string]bool // lower-case host names, without port
	anyHost  bool
	patterns []string
	log      *slog.Logger

	mu     sync.Mutex
	warned map[string]bool // hosts already reported
}

// maxWarned bounds the hosts reported, so a flood of names costs nothing.
const maxWarned = 64

func newOriginChecker(p OriginPolicy, listenAddr string, log *slog.Logger) *originChecker {
	c := &originChecker{policy: p, names: map[string]bool{"localhost": true}, log: log, warned: map[string]bool{}}
	if h, err := os.Hostname(); err == nil && h != "" {
		c.names[strings.ToLower(h)] = true
	}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil && h != "" {
		c.names[strings.ToLower(h)] = true
	}
	for _, h := range p.Hosts {
		if h == "*" {
			c.anyHost = true
		}
		c.names[strings.ToLower(hostOnly(h))] = true
	}
	for _, o := range p.AllowedOrigins {
		c.patterns = append(c.patterns, strings.ToLower(o))
	}
	return c
}

// globMatch matches s against a crossbar origin pattern, where only "*"
// is special and matches any run of characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// hostOnly strips a port from a Host header value.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return strings.Trim(host, "[]")
	}
	return strings.Trim(h, "[]")
}

// trustedHost reports whether a Host header names this listener: an IP
// literal cannot be rebound to another address, and the other names are
// the ones configured or known to be local.
func (c *originChecker) trustedHost(host string) bool {
	if c.anyHost {
		return true
	}
	h := strings.ToLower(hostOnly(host))
	if net.ParseIP(h) != nil || c.names[h] || strings.HasSuffix(h, ".localhost") {
		return true
	}
	return false
}

// allowed implements the policy for a request.
func (c *originChecker) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	lo := strings.ToLower(origin)
	if lo == "null" {
		return c.policy.AllowNullOrigin
	}
	for _, p := range c.patterns {
		if globMatch(p, lo) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	if c.trustedHost(r.Host) {
		return true
	}
	c.warnHost(r.Host)
	return false
}

// warnHost says, once per host, why a same-origin page was refused: a
// site reached by a name the router does not know must list it.
func (c *originChecker) warnHost(host string) {
	if c.log == nil {
		return
	}
	c.mu.Lock()
	report := !c.warned[host] && len(c.warned) < maxWarned
	c.warned[host] = true
	c.mu.Unlock()
	if report {
		c.log.Warn("refused a browser page: its Host is not a name of this listener (DNS rebinding guard); if it is, add it to the listener's hosts", "host", host)
	}
}

// guard answers 403 to a request whose Origin the policy refuses.
func (c *originChecker) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.allowed(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
