package router

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/telemesh/telemesh/protocol"
)

// Match policies of a permission URI, as in crossbar.io.
const (
	MatchExact    = "exact"
	MatchPrefix   = "prefix"
	MatchWildcard = "wildcard"
)

// AuthIDPlaceholder in a permission URI is replaced by the session's authid
// before matching, so a role can grant each principal its own subtree.
const AuthIDPlaceholder = "{authid}"

// Config is the router's configuration (YAML).
type Config struct {
	Listeners Listeners     `yaml:"listeners"`
	Realms    []RealmConfig `yaml:"realms"`
	// KeepAlive is the ping interval of WebSocket and RawSocket peers: a
	// peer is pinged before it has been silent for KeepAlive, and one
	// silent for twice KeepAlive is dropped (so within 2.5 intervals).
	// Negative disables pings.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// OutQueueSize is the per-session outbound queue of network sessions
	// in messages; messages beyond it are dropped (and counted).
	OutQueueSize int `yaml:"out_queue_size"`
	// OutQueueBytes bounds the bytes waiting in one network session's
	// outbound queue; a session whose consumer falls that far behind is
	// dropped.
	OutQueueBytes int `yaml:"out_queue_bytes,omitempty"`
	// LocalQueueSize is the outbound queue of in-process sessions.
	LocalQueueSize int `yaml:"local_queue_size"`
	// MaxMessageSize bounds one incoming message in bytes.
	MaxMessageSize int `yaml:"max_message_size"`
	// PreAuthMessageSize bounds one incoming message before the session is
	// welcomed (HELLO, AUTHENTICATE), so unauthenticated peers cannot make
	// the router decode large messages.
	PreAuthMessageSize int `yaml:"pre_auth_message_size,omitempty"`
	// Transports are further listeners, each with its own authentication
	// (crossbar's per-transport auth; transports.go).
	Transports []Transport `yaml:"transports"`
}

// Listeners holds the network endpoints; an empty address disables one.
type Listeners struct {
	WebSocket WebSocketListener `yaml:"websocket"`
	RawSocket RawSocketListener `yaml:"rawsocket"`
}

// WebSocketListener is the WebSocket (and HTTP) endpoint.
type WebSocketListener struct {
	Address string    `yaml:"address"`
	Path    string    `yaml:"path"`
	TLS     TLSConfig `yaml:"tls"`
	// Origins says which browser pages may connect (origin.go).
	Origins OriginPolicy `yaml:",inline"`
	// Web are further HTTP paths: static files and crossbar's HTTP
	// bridge (web.go).
	Web []WebPath `yaml:"web"`
}

// RawSocketListener is the RawSocket-over-TCP endpoint.
type RawSocketListener struct {
	Address string    `yaml:"address"`
	TLS     TLSConfig `yaml:"tls"`
}

// TLSConfig names a PEM certificate and key; both empty means plain TCP.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" }

// RealmConfig is one realm with its roles and authentication methods.
type RealmConfig struct {
	Name  string       `yaml:"name"`
	Roles []RoleConfig `yaml:"roles"`
	Auth  AuthConfig   `yaml:"auth"`
}

// RoleConfig is a role and its permissions.
type RoleConfig struct {
	Name        string       `yaml:"name"`
	Permissions []Permission `yaml:"permissions"`
}

// Permission grants actions on the URIs matching URI under Match.
type Permission struct {
	URI      string   `yaml:"uri"`
	Match    string   `yaml:"match"`
	Allow    Allow    `yaml:"allow"`
	Disclose Disclose `yaml:"disclose"`
}

// Allow lists the actions a permission grants.
type Allow struct {
	Call      bool `yaml:"call"`
	Register  bool `yaml:"register"`
	Publish   bool `yaml:"publish"`
	Subscribe bool `yaml:"subscribe"`
}

// Disclose forces identity disclosure: Caller on a registration makes the
// router disclose callers to the callee, Publisher on a publication
// discloses the publisher to subscribers.
type Disclose struct {
	Caller    bool `yaml:"caller"`
	Publisher bool `yaml:"publisher"`
}

// AuthConfig lists the authentication methods of a realm; nil disables one.
type AuthConfig struct {
	Anonymous  *AnonymousAuth  `yaml:"anonymous"`
	Ticket     *TicketAuth     `yaml:"ticket"`
	WAMPCRA    *WAMPCRAAuth    `yaml:"wampcra"`
	Cryptosign *CryptosignAuth `yaml:"cryptosign"`
}

// AnonymousAuth admits sessions without credentials under Role, with an
// authid the router assigns ("anonymous-<session ID>").
type AnonymousAuth struct {
	Role string `yaml:"role"`
	// LoopbackOnly admits anonymous sessions, over WebSocket and RawSocket
	// alike, only from 127.0.0.0/8 and ::1.
	LoopbackOnly bool `yaml:"loopback_only"`
	// AllowFrom admits anonymous sessions only from loopback and these
	// networks (CIDRs, such as a compose network's); empty with
	// LoopbackOnly false admits them from any address.
	AllowFrom []string `yaml:"allow_from,omitempty"`
}

// TicketAuth is static ticket authentication.
type TicketAuth struct {
	Principals map[string]TicketPrincipal `yaml:"principals"`
}

// TicketPrincipal is one ticket user; exactly one of Ticket, TicketEnv
// (an environment variable name) and TicketFile gives the secret.
type TicketPrincipal struct {
	Ticket     string `yaml:"ticket"`
	TicketEnv  string `yaml:"ticket_env"`
	TicketFile string `yaml:"ticket_file"`
	Role       string `yaml:"role"`
}

// WAMPCRAAuth is static WAMP-CRA authentication.
type WAMPCRAAuth struct {
	Users map[string]CRAUser `yaml:"users"`
}

// CRAUser is one WAMP-CRA user; exactly one of Secret, SecretEnv and
// SecretFile gives the secret. With Salt set, the secret is, as in
// crossbar, the derived key: base64 of PBKDF2-SHA256(password, Salt,
// Iterations, KeyLen), which clients derive from the password.
type CRAUser struct {
	Secret     string `yaml:"secret"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	Role       string `yaml:"role"`
	Salt       string `yaml:"salt"`
	Iterations int    `yaml:"iterations"`
	KeyLen     int    `yaml:"keylen"`
}

// CryptosignAuth is static WAMP-cryptosign (Ed25519) authentication.
type CryptosignAuth struct {
	Principals map[string]CryptosignPrincipal `yaml:"principals"`
}

// CryptosignPrincipal is one cryptosign user with its hex public keys.
type CryptosignPrincipal struct {
	AuthorizedKeys []string `yaml:"authorized_keys"`
	Role           string   `yaml:"role"`
}

// Defaults applied by DefaultConfig and by New for zero values.
const (
	DefaultWSAddress      = "127.0.0.1:8080"
	DefaultRSAddress      = "127.0.0.1:8081"
	DefaultWSPath         = "/ws"
	DefaultKeepAlive      = 5 * time.Second
	DefaultOutQueueSize   = 4096
	DefaultLocalQueueSize = 4096
	DefaultMaxMessageSize = 1 << 20
	DefaultPreAuthSize    = 64 << 10
	DefaultOutQueueBytes  = 16 << 20
)

// LoopbackConfig returns a router for programs that run one beside them
// (tests, the bench): WebSocket on a loopback port the kernel picks, no
// RawSocket, and one realm named realm with the default roles whose
// anonymous sessions from loopback are admins.
func LoopbackConfig(realm string) Config {
	cfg := DefaultConfig()
	cfg.Listeners.WebSocket.Address, cfg.Listeners.RawSocket.Address = "127.0.0.1:0", ""
	cfg.Realms[0].Name = realm
	cfg.Realms[0].Auth.Anonymous = &AnonymousAuth{Role: protocol.RoleAdmin, LoopbackOnly: true}
	return cfg
}

// DefaultConfig returns a router on the default loopback ports serving the
// default telemesh realm with the default roles and loopback-only anonymous
// access as consumer.
func DefaultConfig() Config {
	n := protocol.DefaultNames()
	return Config{
		Listeners: Listeners{
			WebSocket: WebSocketListener{Address: DefaultWSAddress, Path: DefaultWSPath},
			RawSocket: RawSocketListener{Address: DefaultRSAddress},
		},
		Realms: []RealmConfig{{
			Name:  n.Realm,
			Roles: DefaultRoles(n),
			Auth:  AuthConfig{Anonymous: &AnonymousAuth{Role: protocol.RoleConsumer, LoopbackOnly: true}},
		}},
		KeepAlive:          DefaultKeepAlive,
		OutQueueSize:       DefaultOutQueueSize,
		LocalQueueSize:     DefaultLocalQueueSize,
		MaxMessageSize:     DefaultMaxMessageSize,
		PreAuthMessageSize: DefaultPreAuthSize,
		OutQueueBytes:      DefaultOutQueueBytes,
	}
}

// withDefaults fills zero values with the defaults.
func (c Config) withDefaults() Config {
	if c.Listeners.WebSocket.Path == "" {
		c.Listeners.WebSocket.Path = DefaultWSPath
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.OutQueueSize == 0 {
		c.OutQueueSize = DefaultOutQueueSize
	}
	if c.LocalQueueSize == 0 {
		c.LocalQueueSize = DefaultLocalQueueSize
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.PreAuthMessageSize == 0 {
		c.PreAuthMessageSize = DefaultPreAuthSize
	}
	if c.OutQueueBytes == 0 {
		c.OutQueueBytes = DefaultOutQueueBytes
	}
	return c
}

// DefaultRoles returns the roles of a telemesh realm named by n: hub,
// datanode, consumer and admin, as protocol.md describes them.
func DefaultRoles(n protocol.Names) []RoleConfig {
	reg := Allow{Register: true}
	return []RoleConfig{
		{Name: protocol.RoleHub, Permissions: []Permission{
			{URI: n.URI("data_node."), Match: MatchPrefix, Allow: reg, Disclose: Disclose{Caller: true}},
			{URI: n.GetDataNode(), Match: MatchExact, Allow: reg},
			{URI: n.ListNodes(), Match: MatchExact, Allow: reg},
			{URI: n.URI("consumer.data_node_"), Match: MatchPrefix, Allow: Allow{Publish: true}},
			{URI: n.URI("hub."), Match: MatchPrefix, Allow: Allow{Publish: true}},
			{URI: "wamp.", Match: MatchPrefix, Allow: Allow{Call: true, Subscribe: true}},
		}},
		{Name: protocol.RoleDataNode, Permissions: []Permission{
			{URI: n.NodePrefix(AuthIDPlaceholder), Match: MatchPrefix, Allow: Allow{Register: true, Publish: true}},
			{URI: n.DataNodeAdd(), Match: MatchExact, Allow: Allow{Call: true}, Disclose: Disclose{Caller: true}},
			{URI: n.DataNodeSubtract(), Match: MatchExact, Allow: Allow{Call: true}, Disclose: Disclose{Caller: true}},
			{URI: n.HubReady(), Match: MatchExact, Allow: Allow{Subscribe: true}},
		}},
		{Name: protocol.RoleConsumer, Permissions: []Permission{
			{URI: n.ConsumerPrefix(), Match: MatchPrefix, Allow: Allow{Call: true, Subscribe: true}},
		}},
		{Name: protocol.RoleAdmin, Permissions: []Permission{
			{URI: "", Match: MatchPrefix, Allow: Allow{Call: true, Register: true, Publish: true, Subscribe: true}},
		}},
	}
}

// LoadConfig reads a YAML router configuration strictly (unknown keys are
// errors) and validates it. Relative file names in it (certificates,
// secret files) are relative to the configuration file's folder. Zero values take the defaults of DefaultConfig
// except listeners and realms, which must be given.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading router config: %w", err)
	}
	c, err := parseConfig(b, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes and validates a YAML configuration whose relative
// file names are relative to dir.
func parseConfig(b []byte, dir string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	c.resolvePaths(dir)
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// resolvePaths makes the relative file names in c relative to dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	tlss := []*TLSConfig{&c.Listeners.WebSocket.TLS, &c.Listeners.RawSocket.TLS}
	for i := range c.Transports {
		tlss = append(tlss, &c.Transports[i].TLS)
	}
	for _, t := range tlss {
		abs(&t.Cert)
		abs(&t.Key)
	}
	for i := range c.Listeners.WebSocket.Web {
		abs(&c.Listeners.WebSocket.Web[i].Directory)
	}
	for _, t := range c.Transports {
		for i := range t.Web {
			abs(&t.Web[i].Directory)
		}
	}
	for _, r := range c.Realms {
		if a := r.Auth.Ticket; a != nil {
			for id, p := range a.Principals {
				abs(&p.TicketFile)
				a.Principals[id] = p
			}
		}
		if a := r.Auth.WAMPCRA; a != nil {
			for id, u := range a.Users {
				abs(&u.SecretFile)
				a.Users[id] = u
			}
		}
	}
}

var (
	// uriComponentRE is crossbar's loose URI component rule.
	uriComponentRE = regexp.MustCompile(`^[^\s.#]+$`)
	realmRE        = regexp.MustCompile(`^[^\s#]+$`)
)

// CheckURIPattern reports whether uri is a valid permission pattern under
// match, following crossbar: exact URIs have no empty components, prefix
// URIs may end with a dot (or be empty, matching everything), and only
// wildcard URIs may have empty components.
func CheckURIPattern(uri, match string) error {
	switch match {
	case MatchExact, MatchPrefix, MatchWildcard:
	default:
		return fmt.Errorf("invalid match %q (want exact, prefix or wildcard)", match)
	}
	if uri == "" {
		if match == MatchPrefix {
			return nil
		}
		return fmt.Errorf("empty URI is only valid with match prefix")
	}
	parts := strings.Split(uri, ".")
	for i, p := range parts {
		if p == "" {
			if match == MatchWildcard || (match == MatchPrefix && i == len(parts)-1) {
				continue
			}
			return fmt.Errorf("invalid %s URI %q: empty component", match, uri)
		}
		if !uriComponentRE.MatchString(p) {
			return fmt.Errorf("invalid %s URI %q: bad component %q", match, uri, p)
		}
	}
	return nil
}

// Validate checks the configuration and returns every problem, one line
// each.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	ws, rs := c.Listeners.WebSocket, c.Listeners.RawSocket
	if ws.Address == "" && rs.Address == "" && len(c.Transports) == 0 {
		add("listeners: no websocket or rawsocket address")
	}
	if ws.Path != "" && !strings.HasPrefix(ws.Path, "/") {
		add("listeners.websocket.path %q must start with /", ws.Path)
	}
	checkTLS := func(name string, t TLSConfig) {
		if !t.Enabled() {
			return
		}
		for _, f := range []struct{ key, path string }{{"cert", t.Cert}, {"key", t.Key}} {
			if f.path == "" {
				add("listeners.%s.tls.%s: missing file name", name, f.key)
			} else if _, err := os.Stat(f.path); err != nil {
				add("listeners.%s.tls.%s: %v", name, f.key, err)
			}
		}
	}
	checkTLS("websocket", ws.TLS)
	checkTLS("rawsocket", rs.TLS)
	errs = append(errs, c.validateWeb()...)
	errs = append(errs, c.validateTransports()...)
	if c.OutQueueSize < 0 || c.LocalQueueSize < 0 || c.MaxMessageSize < 0 || c.PreAuthMessageSize < 0 || c.OutQueueBytes < 0 {
		add("out_queue_size, out_queue_bytes, local_queue_size, max_message_size and pre_auth_message_size must not be negative")
	}
	if len(c.Realms) == 0 {
		add("realms: no realm configured")
	}
	realms := map[string]bool{}
	for i, r := range c.Realms {
		where := fmt.Sprintf("realms[%d] %q", i, r.Name)
		if !realmRE.MatchString(r.Name) {
			add("%s: invalid realm name", where)
		}
		if realms[r.Name] {
			add("%s: duplicate realm name", where)
		}
		realms[r.Name] = true
		roles := map[string]bool{}
		for _, ro := range r.Roles {
			if ro.Name == "" {
				add("%s: role without a name", where)
			}
			if ro.Name == trustedRole {
				add("%s: role name %q is reserved for the router's own sessions", where, ro.Name)
			}
			if roles[ro.Name] {
				add("%s: duplicate role %q", where, ro.Name)
			}
			roles[ro.Name] = true
			for _, p := range ro.Permissions {
				if err := CheckURIPattern(strings.ReplaceAll(p.URI, AuthIDPlaceholder, "x"), p.Match); err != nil {
					add("%s role %q: %v", where, ro.Name, err)
				}
			}
		}
		role := func(method, authid, name string) {
			if name == "" {
				add("%s auth %s %q: no role", where, method, authid)
			} else if !roles[name] {
				add("%s auth %s %q: unknown role %q", where, method, authid, name)
			}
		}
		secret := func(method, authid string, srcs ...string) {
			n := 0
			for _, s := range srcs {
				if s != "" {
					n++
				}
			}
			if n == 0 {
				add("%s auth %s %q: no secret (give a value, an env variable or a file)", where, method, authid)
			} else if n > 1 {
				add("%s auth %s %q: more than one secret source", where, method, authid)
			}
		}
		a := r.Auth
		if a.Anonymous == nil && a.Ticket == nil && a.WAMPCRA == nil && a.Cryptosign == nil {
			add("%s: no authentication method", where)
		}
		if a.Anonymous != nil {
			role("anonymous", "", a.Anonymous.Role)
			if _, err := parseCIDRs(a.Anonymous.AllowFrom); err != nil {
				add("%s auth anonymous: %v", where, err)
			}
		}
		// authids must be unique across methods: one authid, one role.
		ids := map[string]string{}
		dup := func(method, id string) {
			if prev, ok := ids[id]; ok {
				add("%s: duplicate authid %q (in %s and %s)", where, id, prev, method)
			}
			if strings.HasPrefix(id, anonymousPrefix) {
				add("%s auth %s %q: authids starting with %q are the router's names of anonymous sessions", where, method, id, anonymousPrefix)
			}
			ids[id] = method
		}
		if a.Ticket != nil {
			for _, id := range sortedKeys(a.Ticket.Principals) {
				p := a.Ticket.Principals[id]
				dup("ticket", id)
				role("ticket", id, p.Role)
				secret("ticket", id, p.Ticket, p.TicketEnv, p.TicketFile)
			}
		}
		if a.WAMPCRA != nil {
			for _, id := range sortedKeys(a.WAMPCRA.Users) {
				u := a.WAMPCRA.Users[id]
				dup("wampcra", id)
				role("wampcra", id, u.Role)
				secret("wampcra", id, u.Secret, u.SecretEnv, u.SecretFile)
				if u.Salt != "" && (u.Iterations <= 0 || u.KeyLen <= 0) {
					add("%s auth wampcra %q: salted secret needs iterations and keylen > 0", where, id)
				}
			}
		}
		if a.Cryptosign != nil {
			for _, id := range sortedKeys(a.Cryptosign.Principals) {
				p := a.Cryptosign.Principals[id]
				dup("cryptosign", id)
				role("cryptosign", id, p.Role)
				if len(p.AuthorizedKeys) == 0 {
					add("%s auth cryptosign %q: no authorized_keys", where, id)
				}
				for _, k := range p.AuthorizedKeys {
					if _, err := parsePublicKey(k); err != nil {
						add("%s auth cryptosign %q: %v", where, id, err)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}
