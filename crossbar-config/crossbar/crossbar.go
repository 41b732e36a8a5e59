// Package crossbar reads a crossbar.io node configuration
// (.crossbar/config.json, version 2) into telemesh's router.Config, so that
// a site running crossbar can switch routers without rewriting its config.
//
// Everything telemesh can honour is converted; every key it cannot honour
// is reported by its JSON path through the logger; keys whose loss would
// weaken security (dynamic authorizers, authentication methods telemesh does
// not implement, TLS client-certificate checks) make Load fail.
package crossbar

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/telemesh/telemesh/router"
)

// Load reads the crossbar configuration file at path and converts it into
// a router configuration. Relative file names in it (TLS keys and
// certificates) are resolved against the directory holding path, crossbar's
// CBDIR. Unsupported keys are logged as warnings on logger (nil discards
// them); keys that matter for security, malformed JSON and an invalid
// result are errors naming the file.
func Load(path string, logger *slog.Logger) (router.Config, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return router.Config{}, fmt.Errorf("reading crossbar config: %w", err)
	}
	return convert(path, b, logger)
}

// conv holds the state of one conversion.
type conv struct {
	file   string
	cbdir  string
	logger *slog.Logger
	fatal  []error
}

func (c *conv) warn(path, why string) {
	c.logger.Warn(path+": "+why, "file", c.file)
}

func (c *conv) fail(path, why string) {
	c.fatal = append(c.fatal, fmt.Errorf("%s: %s: %s", c.file, path, why))
}

// obj is a JSON object being converted; keys never looked at are reported
// by done, so nothing is dropped silently.
type obj struct {
	c    *conv
	path string
	m    map[string]any
	seen map[string]bool
}

func (c *conv) object(path string, v any) *obj {
	m, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			c.fail(path, fmt.Sprintf("want a JSON object, got %s", kind(v)))
		}
		m = map[string]any{}
	}
	return &obj{c: c, path: path, m: m, seen: map[string]bool{}}
}

func (o *obj) key(k string) string {
	if o.path == "" {
		return k
	}
	return o.path + "." + k
}

func (o *obj) has(k string) bool { _, ok := o.m[k]; return ok }

func (o *obj) get(k string) (any, bool) {
	o.seen[k] = true
	v, ok := o.m[k]
	return v, ok
}

// ignore marks keys as consumed without a report, for keys that have no
// effect on telemesh's behaviour.
func (o *obj) ignore(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
	}
}

func (o *obj) sub(k string) *obj {
	v, _ := o.get(k)
	return o.c.object(o.key(k), v)
}

func (o *obj) str(k string) string {
	v, ok := o.get(k)
	if !ok || v == nil {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		o.c.fail(o.key(k), fmt.Sprintf("want a string, got %s", kind(v)))
	}
	return s
}

func (o *obj) boolean(k string) bool {
	v, ok := o.get(k)
	if !ok || v == nil {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		o.c.fail(o.key(k), fmt.Sprintf("want true or false, got %s", kind(v)))
	}
	return b
}

// integer reads a number, or a "$VAR"/"${VAR}" string naming an
// environment variable holding one (crossbar's maybe_from_env).
func (o *obj) integer(k string) (int, bool) {
	v, ok := o.get(k)
	if !ok || v == nil {
		return 0, false
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		name, isEnv := envRef(x)
		if !isEnv {
			s = x
			break
		}
		val, set := os.LookupEnv(name)
		if !set {
			o.c.fail(o.key(k), fmt.Sprintf("environment variable %s is not set", name))
			return 0, false
		}
		s = val
	default:
		o.c.fail(o.key(k), fmt.Sprintf("want a number, got %s", kind(v)))
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		o.c.fail(o.key(k), fmt.Sprintf("want an integer, got %q", s))
		return 0, false
	}
	return n, true
}

func (o *obj) list(k string) []any {
	v, ok := o.get(k)
	if !ok || v == nil {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		o.c.fail(o.key(k), fmt.Sprintf("want a JSON array, got %s", kind(v)))
	}
	return l
}

func (o *obj) strings(k string) []string {
	var out []string
	for i, v := range o.list(k) {
		s, ok := v.(string)
		if !ok {
			o.c.fail(fmt.Sprintf("%s[%d]", o.key(k), i), fmt.Sprintf("want a string, got %s", kind(v)))
			continue
		}
		out = append(out, s)
	}
	return out
}

// done reports every key not consumed.
func (o *obj) done() {
	for _, k := range sortedKeys(o.m) {
		if !o.seen[k] {
			o.c.warn(o.key(k), "not supported, ignored")
		}
	}
}

// entries calls fn with each entry of the object under k, in key order,
// then reports the keys of each entry and of the object nothing read.
func (o *obj) entries(k string, fn func(id string, e *obj)) {
	es := o.sub(k)
	for _, id := range sortedKeys(es.m) {
		e := es.sub(id)
		fn(id, e)
		e.done()
	}
	es.done()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

var envRE = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$`)

// envRef reports whether s is "$VAR" or "${VAR}" and returns VAR.
func envRef(s string) (string, bool) {
	m := envRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// jsonError turns a decoding error into one line naming the file, line and
// column.
func jsonError(file string, b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var tr *trailingError
	switch {
	case errors.As(err, &tr):
		off = tr.off
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, errUnexpectedEOF):
		off = int64(len(b))
	}
	if off < 0 {
		return fmt.Errorf("%s: invalid JSON: %v", file, err)
	}
	line, col := 1, 1
	for _, ch := range b[:min(int(off), len(b))] {
		if ch == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%s:%d:%d: invalid JSON (offset %d): %v", file, line, col, off, err)
}

var errUnexpectedEOF = errors.New("unexpected end of JSON input")

// trailingError is data after the top-level JSON value.
type trailingError struct{ off int64 }

func (e *trailingError) Error() string { return "data after the top-level JSON object" }

// transport is one crossbar transport converted to a listener candidate.
type transport struct {
	path    string // JSON path, for reports
	ws      bool   // WebSocket (else RawSocket)
	address string
	tls     router.TLSConfig
	wsPath  string
	auth    map[string]router.AuthConfig // by realm name; "" applies to all
	keep    time.Duration
	maxMsg  int
	origins router.OriginPolicy
	web     []router.WebPath
}

func convert(file string, b []byte, logger *slog.Logger) (router.Config, error) {
	c := &conv{file: file, cbdir: filepath.Dir(file), logger: logger}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errUnexpectedEOF
		}
		return router.Config{}, jsonError(file, b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return router.Config{}, jsonError(file, b, &trailingError{dec.InputOffset()})
	}
	if _, ok := root.(map[string]any); !ok {
		return router.Config{}, fmt.Errorf("%s: want a JSON object at the top level, got %s", file, kind(root))
	}
	top := c.object("", root)
	if v, ok := top.integer("version"); !ok || v != 2 {
		return router.Config{}, fmt.Errorf("%s: version: want 2 (crossbar config version 2); upgrade older files with `crossbar upgrade`", file)
	}
	top.ignore("$schema")
	if ctl := top.sub("controller"); len(ctl.m) > 0 {
		c.warn("controller", "not supported, ignored (telemesh has no node controller)")
	}
	var cfg router.Config
	mapped := false
	for i, w := range top.list("workers") {
		wo := c.object(fmt.Sprintf("workers[%d]", i), w)
		typ := wo.str("type")
		switch {
		case typ == "router" && !mapped:
			mapped = true
			cfg = c.routerWorker(wo)
		case typ == "router":
			c.warn(wo.path, "second router worker not supported, ignored (telemesh runs one router; merge its realms and transports into the first)")
			continue
		default:
			c.warn(wo.path+".type="+typ, "not supported, ignored (telemesh runs its own hub, data nodes and bridge as separate commands)")
			continue
		}
		wo.done()
	}
	top.done()
	if !mapped && len(c.fatal) == 0 {
		c.fatal = append(c.fatal, fmt.Errorf("%s: workers: no router worker", file))
	}
	if len(c.fatal) > 0 {
		return router.Config{}, errors.Join(c.fatal...)
	}
	if err := cfg.Validate(); err != nil {
		return router.Config{}, fmt.Errorf("%s: converted configuration is invalid: %w", file, err)
	}
	return cfg, nil
}

func (c *conv) routerWorker(w *obj) router.Config {
	w.ignore("id")
	if w.has("options") {
		for _, k := range sortedKeys(w.sub("options").m) {
			c.warn(w.path+".options."+k, "not supported, ignored")
		}
	}
	for i := range w.list("components") {
		c.warn(fmt.Sprintf("%s.components[%d]", w.path, i), "not supported, ignored (run telemesh's hub and nodes as their own commands)")
	}
	var cfg router.Config
	for i, r := range w.list("realms") {
		cfg.Realms = append(cfg.Realms, c.realm(c.object(fmt.Sprintf("%s.realms[%d]", w.path, i), r)))
	}
	// The first transport authenticates with the realms' auth sections
	// and becomes a main listener, with the first other-kind transport of
	// the same authentication; every further transport is served with its
	// own authentication, as crossbar serves each transport.
	var first *transport
	var ws, rs *transport
	var rest []*transport
	for i, t := range w.list("transports") {
		tr := c.transport(c.object(fmt.Sprintf("%s.transports[%d]", w.path, i), t))
		if tr == nil {
			continue
		}
		slot := &ws
		if !tr.ws {
			slot = &rs
		}
		if *slot != nil || (first != nil && !reflect.DeepEqual(first.auth, tr.auth)) {
			rest = append(rest, tr)
			continue
		}
		if first == nil {
			first = tr
		}
		*slot = tr
	}
	if ws != nil {
		cfg.Listeners.WebSocket = router.WebSocketListener{Address: ws.address, Path: ws.wsPath, TLS: ws.tls, Origins: ws.origins, Web: ws.web}
		cfg.KeepAlive = ws.keep
		cfg.MaxMessageSize = ws.maxMsg
	}
	if rs != nil {
		cfg.Listeners.RawSocket = router.RawSocketListener{Address: rs.address, TLS: rs.tls}
		cfg.MaxMessageSize = max(cfg.MaxMessageSize, rs.maxMsg)
	}
	roles := map[string]bool{}
	for _, r := range cfg.Realms {
		for _, ro := range r.Roles {
			roles[r.Name+"\x00"+ro.Name] = true
		}
	}
	for _, tr := range rest {
		if missing := missingRole(tr.auth, cfg.Realms, roles); missing != "" {
			c.warn(tr.path, fmt.Sprintf("ignored: its authentication grants role %s, which its realm does not define, so crossbar would refuse every session on it", missing))
			continue
		}
		t := router.Transport{Name: tr.path, Type: router.TransportWebSocket, Address: tr.address, TLS: tr.tls, Path: tr.wsPath, Origins: tr.origins, Web: tr.web, Auth: map[string]router.AuthConfig{}}
		if !tr.ws {
			t.Type = router.TransportRawSocket
		}
		for realm, a := range tr.auth {
			if realm == "" {
				realm = router.AllRealms
			}
			t.Auth[realm] = a
		}
		cfg.Transports = append(cfg.Transports, t)
		cfg.MaxMessageSize = max(cfg.MaxMessageSize, tr.maxMsg)
		if tr.ws && cfg.KeepAlive == 0 {
			cfg.KeepAlive = tr.keep
		}
		c.logger.Info(tr.path+": served as a further transport with its own authentication", "file", c.file, "address", tr.address)
	}
	if first == nil {
		if len(c.fatal) == 0 {
			c.fail(w.path+".transports", "no WebSocket or RawSocket transport telemesh can serve")
		}
		return cfg
	}
	names := map[string]bool{}
	for i := range cfg.Realms {
		names[cfg.Realms[i].Name] = true
		cfg.Realms[i].Auth = first.auth[""]
		if a, ok := first.auth[cfg.Realms[i].Name]; ok {
			cfg.Realms[i].Auth = mergeAuth(cfg.Realms[i].Auth, a)
		}
	}
	for _, r := range sortedKeys(first.auth) {
		if r != "" && !names[r] {
			c.fail(first.path+".auth", fmt.Sprintf("principal restricted to realm %q, which this router worker does not define", r))
		}
	}
	return cfg
}

func (c *conv) realm(r *obj) router.RealmConfig {
	rc := router.RealmConfig{Name: r.str("name")}
	if r.has("options") {
		for _, k := range sortedKeys(r.sub("options").m) {
			c.warn(r.path+".options."+k, "not supported, ignored")
		}
	}
	for i, ro := range r.list("roles") {
		o := c.object(fmt.Sprintf("%s.roles[%d]", r.path, i), ro)
		role := router.RoleConfig{Name: o.str("name")}
		if o.has("authorizer") {
			o.get("authorizer")
			c.fail(o.key("authorizer"), "dynamic authorizers are not supported; list static permissions instead")
		}
		for j, p := range o.list("permissions") {
			role.Permissions = append(role.Permissions, c.permission(c.object(fmt.Sprintf("%s.permissions[%d]", o.path, j), p)))
		}
		o.done()
		rc.Roles = append(rc.Roles, role)
	}
	r.done()
	return rc
}

func (c *conv) permission(p *obj) router.Permission {
	uri := p.str("uri")
	match := p.str("match")
	if match == "" {
		// crossbar's legacy notation: "*" matches everything, a trailing
		// "*" makes a prefix.
		switch {
		case uri == "*":
			uri, match = "", router.MatchPrefix
		case strings.HasSuffix(uri, "*"):
			uri, match = strings.TrimSuffix(uri, "*"), router.MatchPrefix
		default:
			match = router.MatchExact
		}
	}
	perm := router.Permission{URI: uri, Match: match}
	if p.has("allow") {
		a := p.sub("allow")
		perm.Allow = router.Allow{Call: a.boolean("call"), Register: a.boolean("register"), Publish: a.boolean("publish"), Subscribe: a.boolean("subscribe")}
		a.done()
	}
	if p.has("disclose") {
		d := p.sub("disclose")
		perm.Disclose = router.Disclose{Caller: d.boolean("caller"), Publisher: d.boolean("publisher")}
		d.done()
	}
	// cache only memoizes dynamic authorizer answers; static rules are
	// evaluated in memory anyway.
	p.ignore("cache")
	p.done()
	return perm
}

// transport converts a transport, or returns nil when telemesh cannot
// serve it (after reporting why).
func (c *conv) transport(t *obj) *transport {
	typ := t.str("type")
	t.ignore("id", "debug")
	var tr *transport
	switch typ {
	case "web":
		tr = c.endpoint(t, true)
		if tr == nil {
			return nil
		}
		c.httpOptions(t)
		paths := t.sub("paths")
		found := false
		for _, k := range sortedKeys(paths.m) {
			po := c.object(paths.key(k), paths.m[k])
			paths.ignore(k)
			pt := po.str("type")
			switch pt {
			case "websocket":
			case "static", "caller", "publisher":
				if wp, ok := c.webPath(wsPath(k), pt, po); ok {
					tr.web = append(tr.web, wp)
				}
				po.done()
				continue
			case "webhook":
				c.warn(po.path+".type="+pt, "not supported, ignored (crossbar's webhook bridge; use a WAMP client such as the telemesh CLI or autobahn)")
				continue
			default:
				c.warn(po.path+".type="+pt, "not supported, ignored (telemesh serves static, caller, publisher and websocket paths)")
				continue
			}
			if found {
				c.warn(po.path, fmt.Sprintf("not supported, ignored: telemesh serves WebSocket on one path, already %s", tr.wsPath))
				continue
			}
			found = true
			tr.wsPath = wsPath(k)
			c.websocket(po, tr)
			po.done()
		}
		if !found {
			c.warn(t.path, "no websocket path, ignored")
			t.done()
			return nil
		}
	case "websocket":
		tr = c.endpoint(t, true)
		if tr == nil {
			return nil
		}
		tr.wsPath = "/"
		if u := t.str("url"); u != "" {
			if p := urlPath(u); p != "" {
				tr.wsPath = p
			}
		}
		c.websocket(t, tr)
	case "rawsocket":
		tr = c.endpoint(t, false)
		if tr == nil {
			return nil
		}
		c.rawsocket(t, tr)
	case "universal":
		tr = c.endpoint(t, true)
		if tr == nil {
			return nil
		}
		if t.has("websocket") {
			wso := t.sub("websocket")
			for i, k := range sortedKeys(wso.m) {
				wso.ignore(k)
				po := c.object(wso.key(k), wso.m[k])
				if i > 0 {
					c.warn(po.path, fmt.Sprintf("not supported, ignored: telemesh serves WebSocket on one path, already %s", tr.wsPath))
					continue
				}
				tr.wsPath = wsPath(k)
				c.websocket(po, tr)
				po.done()
			}
			if t.has("rawsocket") {
				t.get("rawsocket")
				c.warn(t.key("rawsocket"), "not supported, ignored: telemesh cannot share one port between WebSocket and RawSocket; add a rawsocket transport")
			}
		} else if t.has("rawsocket") {
			tr.ws = false
			ro := t.sub("rawsocket")
			c.rawsocket(ro, tr)
			ro.done()
		} else {
			c.warn(t.path, "universal transport without websocket or rawsocket, ignored")
			return nil
		}
		if t.has("web") {
			t.get("web")
			c.warn(t.key("web"), "not supported, ignored (telemesh serves its own web pages)")
		}
		if tr.wsPath == "" && tr.ws {
			tr.wsPath = "/"
		}
	default:
		c.warn(t.path+".type="+typ, "not supported, ignored")
		return nil
	}
	t.done()
	return tr
}

func wsPath(k string) string {
	if strings.HasPrefix(k, "/") {
		return k
	}
	return "/" + k
}

func urlPath(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.Index(u, "/"); i >= 0 && len(u) > i+1 {
		return u[i:]
	}
	return ""
}

func (c *conv) httpOptions(t *obj) {
	if !t.has("options") {
		return
	}
	o := t.sub("options")
	// Tracebacks and access logs concern crossbar's own web server.
	o.ignore("display_tracebacks", "access_log")
	o.done()
}

// endpoint converts t's endpoint to an address and TLS files.
func (c *conv) endpoint(t *obj, ws bool) *transport {
	e := t.sub("endpoint")
	tr := &transport{path: t.path, ws: ws}
	switch typ := e.str("type"); typ {
	case "tcp":
	case "":
		c.fail(e.key("type"), "missing endpoint type")
		return nil
	default:
		c.warn(e.key("type")+"="+typ, "not supported, transport ignored (telemesh listens on TCP only)")
		return nil
	}
	if !e.has("port") {
		c.fail(e.key("port"), "missing port")
		return nil
	}
	port, ok := e.integer("port")
	if !ok {
		return nil
	}
	if port < 0 || port > 65535 {
		c.fail(e.key("port"), fmt.Sprintf("port %d out of range", port))
		return nil
	}
	host := e.str("interface")
	if v, ok := e.integer("version"); ok && host == "" {
		switch v {
		case 4:
			host = "0.0.0.0"
		case 6:
			host = "::"
		default:
			c.fail(e.key("version"), fmt.Sprintf("want 4 or 6, got %d", v))
		}
	}
	tr.address = net.JoinHostPort(host, strconv.Itoa(port))
	if e.has("tls") {
		c.tls(e.sub("tls"), tr)
	}
	e.done()
	return tr
}

func (c *conv) tls(t *obj, tr *transport) {
	abs := func(k string) string {
		p := t.str(k)
		if p == "" {
			c.fail(t.key(k), "missing file name")
			return ""
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.cbdir, p)
		}
		return p
	}
	tr.tls = router.TLSConfig{Cert: abs("certificate"), Key: abs("key")}
	if t.has("ca_certificates") {
		t.get("ca_certificates")
		c.fail(t.key("ca_certificates"), "TLS client-certificate verification is not supported; remove it and authenticate clients with wampcra, ticket or cryptosign")
	}
	if len(t.list("chain_certificates")) > 0 {
		c.warn(t.key("chain_certificates"), "not supported, ignored: append the intermediate certificates to the certificate file instead")
	}
	if t.has("dhparam") || t.has("ciphers") {
		t.ignore("dhparam", "ciphers")
		c.warn(t.path+".{dhparam,ciphers}", "not supported, ignored: telemesh uses Go's TLS defaults (TLS 1.2+, ECDHE forward-secret suites)")
	}
	t.done()
}

// websocket converts a WebSocket service (a web path of type websocket or
// a websocket transport).
func (c *conv) websocket(w *obj, tr *transport) {
	w.ignore("type")
	// crossbar's defaults: any origin, and "null" (a page opened from a
	// file) too.
	tr.origins = router.OriginPolicy{AllowedOrigins: []string{"*"}, AllowNullOrigin: true}
	c.serializers(w)
	if w.has("options") {
		o := w.sub("options")
		if ms, ok := o.integer("auto_ping_interval"); ok && ms > 0 {
			tr.keep = time.Duration(ms) * time.Millisecond
		}
		if ms, ok := o.integer("auto_ping_timeout"); ok && ms > 0 {
			c.logger.Info(o.key("auto_ping_timeout")+": telemesh drops a peer after about two missed pings", "file", c.file)
		}
		if n, ok := o.integer("max_message_size"); ok {
			tr.maxMsg = n
		}
		if o.has("allowed_origins") {
			tr.origins.AllowedOrigins = o.strings("allowed_origins")
		}
		if o.has("allow_null_origin") {
			tr.origins.AllowNullOrigin = o.boolean("allow_null_origin")
		}
		o.done()
	}
	if w.has("cookie") {
		w.get("cookie")
		c.warn(w.key("cookie"), "not supported, ignored")
	}
	tr.auth = c.auth(w)
}

func (c *conv) rawsocket(r *obj, tr *transport) {
	c.serializers(r)
	if r.has("options") {
		o := r.sub("options")
		if n, ok := o.integer("max_message_size"); ok {
			tr.maxMsg = n
		}
		o.done()
	}
	tr.auth = c.auth(r)
}

func (c *conv) serializers(o *obj) {
	for _, s := range o.strings("serializers") {
		switch s {
		case "json", "msgpack", "cbor":
		default:
			c.warn(o.key("serializers")+"="+s, "not supported, ignored (telemesh speaks json, msgpack and cbor)")
		}
	}
}

// auth converts a transport's auth section into per-realm router auth;
// key "" holds what applies to every realm.
func (c *conv) auth(t *obj) map[string]router.AuthConfig {
	out := map[string]router.AuthConfig{}
	if !t.has("auth") {
		// crossbar admits anonymous sessions as role "anonymous" on a
		// transport without an auth section.
		c.logger.Info(t.path+": no auth section: anonymous sessions get role \"anonymous\", as in crossbar", "file", c.file)
		out[""] = router.AuthConfig{Anonymous: &router.AnonymousAuth{Role: "anonymous"}}
		return out
	}
	a := t.sub("auth")
	set := func(realm string, f func(*router.AuthConfig)) {
		ac := out[realm]
		f(&ac)
		out[realm] = ac
	}
	for _, method := range sortedKeys(a.m) {
		m := a.sub(method)
		if method != "anonymous" && method != "ticket" && method != "wampcra" && method != "cryptosign" {
			c.fail(m.path, "authentication method not supported by telemesh (supported: anonymous, ticket, wampcra, cryptosign)")
			continue
		}
		if typ := m.str("type"); typ != "static" {
			c.fail(m.key("type")+"="+typ, "only static authentication is supported; list the principals in the config")
			continue
		}
		switch method {
		case "anonymous":
			role := m.str("role")
			if role == "" {
				role = "anonymous"
			}
			set("", func(ac *router.AuthConfig) { ac.Anonymous = &router.AnonymousAuth{Role: role} })
		case "ticket":
			m.entries("principals", func(id string, p *obj) {
				tp := router.TicketPrincipal{Role: p.str("role")}
				tp.Ticket, tp.TicketEnv = secret(p.str("ticket"))
				set(p.str("realm"), func(ac *router.AuthConfig) {
					if ac.Ticket == nil {
						ac.Ticket = &router.TicketAuth{Principals: map[string]router.TicketPrincipal{}}
					}
					ac.Ticket.Principals[id] = tp
				})
			})
		case "wampcra":
			m.entries("users", func(id string, u *obj) {
				cu := router.CRAUser{Role: u.str("role"), Salt: u.str("salt")}
				cu.Secret, cu.SecretEnv = secret(u.str("secret"))
				cu.Iterations, _ = u.integer("iterations")
				cu.KeyLen, _ = u.integer("keylen")
				set(u.str("realm"), func(ac *router.AuthConfig) {
					if ac.WAMPCRA == nil {
						ac.WAMPCRA = &router.WAMPCRAAuth{Users: map[string]router.CRAUser{}}
					}
					ac.WAMPCRA.Users[id] = cu
				})
			})
		case "cryptosign":
			m.entries("principals", func(id string, p *obj) {
				cp := router.CryptosignPrincipal{Role: p.str("role"), AuthorizedKeys: p.strings("authorized_keys")}
				set(p.str("realm"), func(ac *router.AuthConfig) {
					if ac.Cryptosign == nil {
						ac.Cryptosign = &router.CryptosignAuth{Principals: map[string]router.CryptosignPrincipal{}}
					}
					ac.Cryptosign.Principals[id] = cp
				})
			})
		}
		m.done()
	}
	a.done()
	return out
}

// secret maps crossbar's "$VAR"/"${VAR}" notation to an environment
// variable reference, so that the secret is read when the router starts.
func secret(s string) (value, env string) {
	if name, ok := envRef(s); ok {
		return "", name
	}
	return s, ""
}

// mergeAuth adds the realm-restricted principals of b to a.
func mergeAuth(a, b router.AuthConfig) router.AuthConfig {
	if b.Anonymous != nil {
		a.Anonymous = b.Anonymous
	}
	if b.Ticket != nil {
		var old map[string]router.TicketPrincipal
		if a.Ticket != nil {
			old = a.Ticket.Principals
		}
		a.Ticket = &router.TicketAuth{Principals: union(old, b.Ticket.Principals)}
	}
	if b.WAMPCRA != nil {
		var old map[string]router.CRAUser
		if a.WAMPCRA != nil {
			old = a.WAMPCRA.Users
		}
		a.WAMPCRA = &router.WAMPCRAAuth{Users: union(old, b.WAMPCRA.Users)}
	}
	if b.Cryptosign != nil {
		var old map[string]router.CryptosignPrincipal
		if a.Cryptosign != nil {
			old = a.Cryptosign.Principals
		}
		a.Cryptosign = &router.CryptosignAuth{Principals: union(old, b.Cryptosign.Principals)}
	}
	return a
}

// union returns a new map with the entries of a and then of b.
func union[V any](a, b map[string]V) map[string]V {
	out := make(map[string]V, len(a)+len(b))
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// webPath converts a static, caller or publisher web path; false when it
// cannot be served (after reporting why).
func (c *conv) webPath(at, typ string, po *obj) (router.WebPath, bool) {
	wp := router.WebPath{Path: at, Type: typ}
	po.ignore("type")
	switch typ {
	case "static":
		dir := po.str("directory")
		if dir == "" {
			// crossbar also serves a Python package's resource folder.
			if po.has("package") {
				po.get("package")
				po.ignore("resource")
				c.warn(po.key("package"), "not supported, path ignored: give a directory")
				return wp, false
			}
			c.fail(po.key("directory"), "missing directory")
			return wp, false
		}
		orig := dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(c.cbdir, dir)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			c.warn(po.key("directory"), fmt.Sprintf("folder %q not found (relative to the config's folder), path ignored", orig))
			po.ignore("options")
			return wp, false
		}
		wp.Directory = dir
		if po.has("options") {
			o := po.sub("options")
			if o.boolean("enable_directory_listing") {
				c.warn(o.key("enable_directory_listing"), "not supported, ignored: telemesh never lists folders")
			}
			// Cache headers and MIME types are Go's defaults.
			o.ignore("cache_timeout", "mime_types")
			o.done()
		}
	default:
		wp.Realm, wp.Role = po.str("realm"), po.str("role")
		if wp.Role == "" {
			c.fail(po.key("role"), "missing role")
			return wp, false
		}
		if po.has("options") {
			o := po.sub("options")
			if n, ok := o.integer("post_body_limit"); ok {
				wp.MaxBody = n
			}
			for _, k := range []string{"key", "secret", "require_ip", "require_tls"} {
				if o.has(k) {
					o.get(k)
					c.fail(o.key(k), "not supported: telemesh's HTTP bridge has no signed requests, IP or TLS requirements; remove it or put the bridge behind a proxy that enforces it")
				}
			}
			o.ignore("debug", "timestamp_delta_limit")
			o.done()
		}
	}
	return wp, true
}

// missingRole returns a role an auth section grants that its realm lacks,
// as "name" in realm "r", or "".
func missingRole(auth map[string]router.AuthConfig, realms []router.RealmConfig, roles map[string]bool) string {
	for _, realm := range sortedKeys(auth) {
		for _, r := range realms {
			if realm != "" && realm != r.Name {
				continue
			}
			for _, role := range auth[realm].Roles() {
				if !roles[r.Name+"\x00"+role] {
					return fmt.Sprintf("%q in realm %q", role, r.Name)
				}
			}
		}
	}
	return ""
}
