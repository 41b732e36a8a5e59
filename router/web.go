package router

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Web path types, as crossbar names them.
const (
	WebStatic    = "static"
	WebCaller    = "caller"
	WebPublisher = "publisher"
)

// WebPath is one HTTP path of a WebSocket listener besides the WAMP one:
// a folder of static files, or one of crossbar's HTTP bridge services
// (httpbridge.go), which turn a POSTed JSON body into a WAMP call or
// publication made by an in-process session of Role in Realm.
type WebPath struct {
	// Path is where it is served ("/" serves the whole tree below).
	Path string `yaml:"path"`
	// Type is static, caller or publisher.
	Type string `yaml:"type"`
	// Directory is the folder a static path serves.
	Directory string `yaml:"directory"`
	// Realm is the bridge session's realm; empty means the first realm.
	Realm string `yaml:"realm"`
	// Role is the role the bridge session is authorized as.
	Role string `yaml:"role"`
	// MaxBody bounds a request body in bytes; 0 means max_message_size.
	MaxBody int `yaml:"max_body"`
}

// validateWeb checks the web paths of every listener.
func (c Config) validateWeb() []error {
	var errs []error
	roles := c.roleSets()
	check := func(where string, paths []WebPath, origins OriginPolicy, wsPath string) {
		if err := origins.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		seen := map[string]bool{wsPath: true}
		for i, w := range paths {
			at := fmt.Sprintf("%s.web[%d] %q", where, i, w.Path)
			if !strings.HasPrefix(w.Path, "/") {
				errs = append(errs, fmt.Errorf("%s: path must start with /", at))
			}
			if seen[w.Path] {
				errs = append(errs, fmt.Errorf("%s: path served twice", at))
			}
			seen[w.Path] = true
			switch w.Type {
			case WebStatic:
				if st, err := os.Stat(w.Directory); err != nil || !st.IsDir() {
					errs = append(errs, fmt.Errorf("%s: directory %q is not a readable folder", at, w.Directory))
				}
			case WebCaller, WebPublisher:
				realm := w.Realm
				if realm == "" && len(c.Realms) > 0 {
					realm = c.Realms[0].Name
				}
				if rs, ok := roles[realm]; !ok {
					errs = append(errs, fmt.Errorf("%s: unknown realm %q", at, realm))
				} else if !rs[w.Role] {
					errs = append(errs, fmt.Errorf("%s: unknown role %q in realm %q", at, w.Role, realm))
				}
				if w.MaxBody < 0 {
					errs = append(errs, fmt.Errorf("%s: max_body must not be negative", at))
				}
			default:
				errs = append(errs, fmt.Errorf("%s: unknown type %q (want static, caller or publisher)", at, w.Type))
			}
		}
	}
	ws := c.Listeners.WebSocket
	check("listeners.websocket", ws.Web, ws.Origins, ws.Path)
	for i, t := range c.Transports {
		check(fmt.Sprintf("transports[%d]", i), t.Web, t.Origins, t.Path)
	}
	return errs
}

// Serves reports whether the main WebSocket listener's configuration
// serves a web path at pattern, which Handle must then not take.
func (s *Server) Serves(pattern string) bool {
	for _, w := range s.cfg.Listeners.WebSocket.Web {
		if w.Path == pattern {
			return true
		}
	}
	return false
}

// mountWeb serves a listener's web paths on mux; oc guards the bridge
// paths.
func (s *Server) mountWeb(mux *http.ServeMux, paths []WebPath, oc *originChecker) {
	for _, w := range paths {
		var h http.Handler
		switch w.Type {
		case WebStatic:
			h = staticFiles(w.Path, w.Directory)
		case WebCaller, WebPublisher:
			h = oc.guard(s.httpBridge(w))
		}
		mux.Handle(w.Path, h)
		s.log.Info("web path", "path", w.Path, "type", w.Type, "directory", w.Directory, "role", w.Role)
		if w.Path != "/" && !strings.HasSuffix(w.Path, "/") && w.Type == WebStatic {
			mux.Handle(w.Path+"/", h)
		}
	}
}

// staticFiles serves dir under prefix as crossbar's static paths do by
// default: index.html for a folder, no directory listings, no dot files.
func staticFiles(prefix, dir string) http.Handler {
	fs := http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.FileServer(http.Dir(dir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(prefix, "/"))
		for _, part := range strings.Split(rel, "/") {
			if strings.HasPrefix(part, ".") {
				http.NotFound(w, r)
				return
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "index.html")); errors.Is(err, os.ErrNotExist) {
				http.NotFound(w, r)
				return
			}
		}
		fs.ServeHTTP(w, r)
	})
}
