package router

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// authTimeout bounds how long a client may take to answer a challenge.
const authTimeout = 10 * time.Second

// principal is one configured user of a realm after its secret was read.
type principal struct {
	role       string
	secret     []byte   // ticket, or wampcra key
	salt       string   // wampcra only
	keylen     int      // wampcra only
	iterations int      // wampcra only
	keys       [][]byte // cryptosign public keys
}

// keyStore is a static auth.KeyStore for one authentication method.
type keyStore struct {
	method     string
	principals map[string]principal
}

var errNoSuchUser = errors.New("no such authid")

func (k *keyStore) AuthKey(authid, authmethod string) ([]byte, error) {
	p, ok := k.principals[authid]
	if !ok || authmethod != k.method {
		return nil, errNoSuchUser
	}
	if authmethod == "cryptosign" {
		if len(p.keys) == 0 {
			return nil, errNoSuchUser
		}
		return p.keys[0], nil
	}
	return p.secret, nil
}

func (k *keyStore) PasswordInfo(authid string) (string, int, int) {
	p := k.principals[authid]
	return p.salt, p.keylen, p.iterations
}

func (k *keyStore) AuthRole(authid string) (string, error) {
	p, ok := k.principals[authid]
	if !ok {
		return "", errNoSuchUser
	}
	return p.role, nil
}

func (k *keyStore) Provider() string { return "static" }

// readSecret returns the secret from exactly one of a value, an environment
// variable and a file (trailing newlines trimmed).
func readSecret(value, env, file string) ([]byte, error) {
	switch {
	case value != "":
		return []byte(value), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", env)
		}
		return []byte(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading secret: %w", err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return nil, fmt.Errorf("secret file %s is empty", file)
		}
		return []byte(s), nil
	}
	return nil, errors.New("no secret configured")
}

// parsePublicKey decodes a hex Ed25519 public key.
func parsePublicKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("authorized key %q is not a %d-byte hex Ed25519 public key", s, ed25519.PublicKeySize)
	}
	return b, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// authenticators builds the nexus authenticators of a realm, reading every
// secret.
func authenticators(a AuthConfig) ([]auth.Authenticator, error) {
	var out []auth.Authenticator
	if a.Anonymous != nil {
		nets, err := parseCIDRs(a.Anonymous.AllowFrom)
		if err != nil {
			return nil, fmt.Errorf("anonymous: %w", err)
		}
		out = append(out, &anonymousAuth{role: a.Anonymous.Role, loopbackOnly: a.Anonymous.LoopbackOnly, allowFrom: nets})
	}
	if a.Ticket != nil {
		ks := &keyStore{method: "ticket", principals: map[string]principal{}}
		for id, p := range a.Ticket.Principals {
			s, err := readSecret(p.Ticket, p.TicketEnv, p.TicketFile)
			if err != nil {
				return nil, fmt.Errorf("ticket %q: %w", id, err)
			}
			ks.principals[id] = principal{role: p.Role, secret: s}
		}
		out = append(out, auth.NewTicketAuthenticator(ks, authTimeout))
	}
	if a.WAMPCRA != nil {
		ks := &keyStore{method: "wampcra", principals: map[string]principal{}}
		for id, u := range a.WAMPCRA.Users {
			s, err := readSecret(u.Secret, u.SecretEnv, u.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("wampcra %q: %w", id, err)
			}
			ks.principals[id] = principal{role: u.Role, secret: s, salt: u.Salt, keylen: u.KeyLen, iterations: u.Iterations}
		}
		out = append(out, auth.NewCRAuthenticator(ks, authTimeout))
	}
	if a.Cryptosign != nil {
		cs := &cryptosignAuth{principals: map[string]principal{}}
		for id, p := range a.Cryptosign.Principals {
			var keys [][]byte
			for _, k := range p.AuthorizedKeys {
				b, err := parsePublicKey(k)
				if err != nil {
					return nil, fmt.Errorf("cryptosign %q: %w", id, err)
				}
				keys = append(keys, b)
			}
			cs.principals[id] = principal{role: p.Role, keys: keys}
		}
		out = append(out, cs)
	}
	return out, nil
}

// cryptosignAuth lets a principal hold several authorized keys: the client
// names its key in authextra.pubkey (as autobahn does) and nexus's
// authenticator then checks the signature against that key only.
type cryptosignAuth struct {
	principals map[string]principal
}

func (c *cryptosignAuth) AuthMethod() string { return "cryptosign" }

func (c *cryptosignAuth) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	authid, _ := wamp.AsString(details["authid"])
	p, ok := c.principals[authid]
	if !ok {
		return nil, errNoSuchUser
	}
	key := p.keys[0]
	if extra, ok := wamp.AsDict(details["authextra"]); ok {
		if pk, ok := wamp.AsString(extra["pubkey"]); ok {
			b, err := hex.DecodeString(pk)
			if err != nil || !slices.ContainsFunc(p.keys, func(k []byte) bool { return string(k) == string(b) }) {
				return nil, errors.New("public key not authorized")
			}
			key = b
		}
	}
	p.keys = [][]byte{key}
	ks := &keyStore{method: "cryptosign", principals: map[string]principal{authid: p}}
	return auth.NewCryptoSignAuthenticator(ks, authTimeout).Authenticate(sid, details, client)
}

// anonymousAuth admits anonymous sessions under a role, optionally only from
// loopback addresses.
type anonymousAuth struct {
	role         string
	loopbackOnly bool
	allowFrom    []*net.IPNet
}

func (a *anonymousAuth) AuthMethod() string { return "anonymous" }

func (a *anonymousAuth) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	if addr := remoteAddr(details); (a.loopbackOnly || len(a.allowFrom) > 0) && !isLoopback(addr) && !inNets(addr, a.allowFrom) {
		return nil, errors.New("anonymous access is not allowed from this address")
	}
	// The router names anonymous sessions: an authid they chose (admin,
	// hub, a node's name) would reach callees as caller_authid and, through
	// {authid} in permissions, open another principal's URIs.
	authid := anonymousAuthID(sid)
	return &wamp.Welcome{Details: wamp.Dict{
		"authid":       authid,
		"authrole":     a.role,
		"authmethod":   a.AuthMethod(),
		"authprovider": "static",
	}}, nil
}

// anonymousAuthID is the authid of an anonymous session: unique, and never
// a configured principal's (Validate refuses authids with its prefix).
func anonymousAuthID(sid wamp.ID) string { return anonymousPrefix + fmt.Sprint(sid) }

const anonymousPrefix = "anonymous-"

// remoteAddr returns the peer address that the listeners record in
// details.transport.peer ("" when unknown).
func remoteAddr(details wamp.Dict) string {
	t, _ := wamp.AsDict(details["transport"])
	if s, ok := wamp.AsString(t["peer"]); ok {
		return s
	}
	if a, ok := wamp.AsDict(t["auth"]); ok {
		if r, ok := a["request"].(*http.Request); ok {
			return r.RemoteAddr
		}
	}
	return ""
}

func isLoopback(addr string) bool {
	ip := hostIP(addr)
	return ip != nil && ip.IsLoopback()
}

func hostIP(addr string) net.IP {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.ParseIP(host)
}

func inNets(addr string, nets []*net.IPNet) bool {
	ip := hostIP(addr)
	return ip != nil && slices.ContainsFunc(nets, func(n *net.IPNet) bool { return n.Contains(ip) })
}

func parseCIDRs(cidrs []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("allow_from: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}
