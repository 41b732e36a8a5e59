// Package web serves telemesh's browser dashboard: a single page that lists
// the data nodes known to the hub, shows a node's fields with their latest
// values, and draws live charts backfilled from get_data. The page talks WAMP
// over the router's WebSocket at the same origin.
//
// The built assets under dist/ are committed and embedded, so building the
// Go binary needs no npm; `make web` rebuilds them from src/.
//
// Mount the handler on the router's HTTP listener next to the WebSocket:
//
//	srv.Handle("/", web.Handler(web.Options{Realm: names.Realm, Base: names.Base, WSPath: "/ws"}))
//
// or, on a plain mux, under a prefix with http.StripPrefix: every URL the
// page uses is relative, except WSPath when it starts with a slash.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/telemesh/telemesh/protocol"
)

//go:embed dist
var dist embed.FS

// Options configures the dashboard: the WAMP realm and base URI it uses and
// where the router's WebSocket is, relative to the page's origin.
type Options struct {
	// Realm is the WAMP realm to join; default protocol.DefaultRealm.
	Realm string
	// Base is the base URI of the protocol's procedures and topics;
	// default protocol.DefaultBase.
	Base string
	// WSPath is the router's WebSocket path on the page's origin (default
	// "/ws"), or a full ws:// or wss:// URL.
	WSPath string
}

// config is the document served as /config.json.
type config struct {
	Realm  string `json:"realm"`
	Base   string `json:"base"`
	WSPath string `json:"ws_path"`
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
	// version is the hash that index.html appends to this asset's URL;
	// a request carrying it may be cached for good.
	version string
}

type handler struct {
	assets  map[string]*asset
	config  *asset
	started time.Time
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

const csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; " +
	"style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

// Handler returns the dashboard's HTTP handler: "/" (index.html), the
// bundled app.js and app.css, and /config.json with the options.
func Handler(o Options) http.Handler {
	if o.Realm == "" {
		o.Realm = protocol.DefaultRealm
	}
	if o.Base == "" {
		o.Base = protocol.DefaultBase
	}
	if o.WSPath == "" {
		o.WSPath = "/ws"
	}
	h := &handler{assets: map[string]*asset{}, started: time.Now()}
	// Reading the embedded tree cannot fail: it was checked at build time.
	_ = fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		h.assets["/"+name] = newAsset(name, b)
		return nil
	})
	// Point index.html at versioned asset URLs so that browsers may cache
	// the bundle for good and still get a new one after an upgrade.
	if idx := h.assets["/index.html"]; idx != nil {
		b := idx.body
		for _, name := range []string{"app.js", "app.css"} {
			if a := h.assets["/"+name]; a != nil {
				b = bytes.Replace(b, []byte(`"`+name+`"`), []byte(`"`+name+"?v="+a.version+`"`), 1)
			}
		}
		h.assets["/index.html"] = newAsset("index.html", b)
	}
	cb, _ := json.Marshal(config{Realm: o.Realm, Base: o.Base, WSPath: o.WSPath})
	h.config = newAsset("config.json", cb)
	return h
}

func newAsset(name string, b []byte) *asset {
	sum := sha256.Sum256(b)
	v := hex.EncodeToString(sum[:8])
	ct := contentTypes[path.Ext(name)]
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &asset{body: b, ctype: ct, etag: `"` + v + `"`, version: v}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	var a *asset
	switch p {
	case "/", "/index.html":
		a = h.assets["/index.html"]
	case "/config.json":
		a = h.config
	default:
		a = h.assets[p]
	}
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", a.etag)
	if a.ctype == contentTypes[".html"] {
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Referrer-Policy", "no-referrer")
	}
	if v := r.URL.Query().Get("v"); v != "" && v == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
	http.ServeContent(w, r, "", h.started, bytes.NewReader(a.body))
}
