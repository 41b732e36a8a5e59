package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
)

// Transport kinds.
const (
	TransportWebSocket = "websocket"
	TransportRawSocket = "rawsocket"
)

// AllRealms keys a Transport's authentication that applies to every realm.
const AllRealms = "*"

// Transport is a further listener with its own authentication, as each
// crossbar transport has: sisock's config, for one, serves WAMP-CRA over
// TLS on one port and anonymous plain WebSocket on another. The main
// listeners (Listeners) authenticate with their realms' auth sections; a
// transport only with its own, so no transport's weaker authentication
// spreads to another port. Roles are still the realms'.
type Transport struct {
	// Name identifies it in logs and Server.TransportAddrs; empty means
	// "transports[i]".
	Name string `yaml:"name"`
	// Type is websocket or rawsocket.
	Type    string    `yaml:"type"`
	Address string    `yaml:"address"`
	TLS     TLSConfig `yaml:"tls"`
	// Path is the WAMP path of a WebSocket transport (default /ws).
	Path    string       `yaml:"path"`
	Origins OriginPolicy `yaml:",inline"`
	Web     []WebPath    `yaml:"web"`
	// Auth is the authentication per realm name; AllRealms applies to
	// every realm.
	Auth map[string]AuthConfig `yaml:"auth"`
}

func (t Transport) name(i int) string {
	if t.Name != "" {
		return t.Name
	}
	return fmt.Sprintf("transports[%d]", i)
}

// mainListener names the main listeners in transport details.
const mainListener = ""

// validateTransports checks the further transports.
func (c Config) validateTransports() []error {
	var errs []error
	roles := c.roleSets()
	names := map[string]bool{}
	for i, t := range c.Transports {
		where := fmt.Sprintf("transports[%d] %q", i, t.name(i))
		if names[t.name(i)] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		names[t.name(i)] = true
		if t.Type != TransportWebSocket && t.Type != TransportRawSocket {
			errs = append(errs, fmt.Errorf("%s: type %q (want websocket or rawsocket)", where, t.Type))
		}
		if t.Address == "" {
			errs = append(errs, fmt.Errorf("%s: no address", where))
		}
		if t.Path != "" && !strings.HasPrefix(t.Path, "/") {
			errs = append(errs, fmt.Errorf("%s: path %q must start with /", where, t.Path))
		}
		if t.Type == TransportRawSocket && len(t.Web) > 0 {
			errs = append(errs, fmt.Errorf("%s: web paths need a websocket transport", where))
		}
		if len(t.Auth) == 0 {
			errs = append(errs, fmt.Errorf("%s: no authentication method", where))
		}
		for realm, a := range t.Auth {
			if realm != AllRealms && roles[realm] == nil {
				errs = append(errs, fmt.Errorf("%s auth: unknown realm %q", where, realm))
				continue
			}
			for _, role := range a.Roles() {
				for r, rs := range roles {
					if (realm == AllRealms || realm == r) && !rs[role] {
						errs = append(errs, fmt.Errorf("%s auth: unknown role %q in realm %q", where, role, r))
					}
				}
			}
		}
	}
	return errs
}

// roleSets returns each realm's role names.
func (c Config) roleSets() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range c.Realms {
		out[r.Name] = map[string]bool{}
		for _, ro := range r.Roles {
			out[r.Name][ro.Name] = true
		}
	}
	return out
}

// Roles lists the roles an auth section grants, in no particular order.
func (a AuthConfig) Roles() []string {
	var out []string
	if a.Anonymous != nil {
		out = append(out, a.Anonymous.Role)
	}
	if a.Ticket != nil {
		for _, p := range a.Ticket.Principals {
			out = append(out, p.Role)
		}
	}
	if a.WAMPCRA != nil {
		for _, u := range a.WAMPCRA.Users {
			out = append(out, u.Role)
		}
	}
	if a.Cryptosign != nil {
		for _, p := range a.Cryptosign.Principals {
			out = append(out, p.Role)
		}
	}
	return out
}

// transportAuth is the authentication of one realm on every listener.
func (c Config) transportAuth(rc RealmConfig) map[string]AuthConfig {
	out := map[string]AuthConfig{mainListener: rc.Auth}
	for i, t := range c.Transports {
		a, ok := t.Auth[rc.Name]
		if !ok {
			a, ok = t.Auth[AllRealms]
		}
		if ok {
			out[t.name(i)] = a
		}
	}
	return out
}

// realmAuthenticators builds a realm's authenticators: one per method,
// each handing a session to the authenticator of the listener it came
// through, so that a method configured on one listener is refused on
// another.
func (c Config) realmAuthenticators(rc RealmConfig) ([]auth.Authenticator, error) {
	byMethod := map[string]map[string]auth.Authenticator{}
	perListener := c.transportAuth(rc)
	for listener, a := range perListener {
		as, err := authenticators(a)
		if err != nil {
			if listener != mainListener {
				return nil, fmt.Errorf("transport %s: %w", listener, err)
			}
			return nil, err
		}
		for _, au := range as {
			m := au.AuthMethod()
			if byMethod[m] == nil {
				byMethod[m] = map[string]auth.Authenticator{}
			}
			byMethod[m][listener] = au
		}
	}
	if len(perListener) == 1 {
		// Only the main listeners: nothing to dispatch.
		var out []auth.Authenticator
		for _, m := range sortedKeys(byMethod) {
			out = append(out, byMethod[m][mainListener])
		}
		return out, nil
	}
	var out []auth.Authenticator
	for _, m := range sortedKeys(byMethod) {
		out = append(out, &listenerAuth{method: m, by: byMethod[m]})
	}
	return out, nil
}

// listenerAuth dispatches one auth method by listener.
type listenerAuth struct {
	method string
	by     map[string]auth.Authenticator
}

func (a *listenerAuth) AuthMethod() string { return a.method }

func (a *listenerAuth) Authenticate(sid wamp.ID, details wamp.Dict, peer wamp.Peer) (*wamp.Welcome, error) {
	t, _ := wamp.AsDict(details["transport"])
	l, _ := wamp.AsString(t["listener"])
	au, ok := a.by[l]
	if !ok {
		return nil, fmt.Errorf("authmethod %s is not offered on this listener", a.method)
	}
	return au.Authenticate(sid, details, peer)
}

// listenTransports binds the further transports and serves them until
// their closers run; wg tracks the serving goroutines.
func (s *Server) listenTransports(wg *sync.WaitGroup, closers *[]func()) error {
	for i, t := range s.cfg.Transports {
		name := t.name(i)
		tc, err := serverTLS(t.TLS)
		if err != nil {
			return fmt.Errorf("transport %s: %w", name, err)
		}
		l, err := listen(t.Address, tc)
		if err != nil {
			return fmt.Errorf("transport %s: %w", name, err)
		}
		scheme := map[bool]string{false: "ws", true: "wss"}[tc != nil]
		url := ""
		switch t.Type {
		case TransportRawSocket:
			scheme = map[bool]string{false: "tcp", true: "tcps"}[tc != nil]
			url = scheme + "://" + l.Addr().String() + "/"
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveRawSocket(l, name)
			}()
			*closers = append(*closers, func() { l.Close() })
		default:
			path := t.Path
			if path == "" {
				path = DefaultWSPath
			}
			oc := newOriginChecker(t.Origins, t.Address, s.log)
			mux := http.NewServeMux()
			mux.Handle(path, s.webSocketHandler(name, oc))
			s.mountWeb(mux, t.Web, oc)
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: min(handshakeTimeout, s.httpRead), ReadTimeout: s.httpRead, IdleTimeout: s.httpIdle, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.Error("transport stopped", "transport", name, "err", err)
				}
			}()
			*closers = append(*closers, func() { srv.Close() })
			url = scheme + "://" + l.Addr().String() + path
		}
		s.mu.Lock()
		if s.transportAddrs == nil {
			s.transportAddrs = map[string]string{}
		}
		s.transportAddrs[name] = l.Addr().String()
		s.mu.Unlock()
		s.log.Info("transport listener", "transport", name, "url", url)
	}
	return nil
}

// TransportAddrs returns the bound address of each further transport by
// name; valid after Ready.
func (s *Server) TransportAddrs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.transportAddrs))
	for k, v := range s.transportAddrs {
		out[k] = v
	}
	return out
}

// InProcessRole returns role when realm defines it, else the router's own
// trusted role: components embedded in the router process (hub, node,
// bridge) keep working under a configuration whose roles are another
// deployment's, such as a crossbar config without telemesh's roles.
func (s *Server) InProcessRole(realm, role string) string {
	if s.roles[realm][role] {
		return role
	}
	return trustedRole
}

// AnonymousRoles lists the roles that sessions without credentials get in
// realm, on any listener or transport: sessions that no identity binds, so
// a hub cannot hold their node names to an authid.
func (c Config) AnonymousRoles(realm string) []string {
	var roles []string
	add := func(a AuthConfig) {
		if a.Anonymous != nil && a.Anonymous.Role != "" && !slices.Contains(roles, a.Anonymous.Role) {
			roles = append(roles, a.Anonymous.Role)
		}
	}
	for _, r := range c.Realms {
		if r.Name == realm {
			add(r.Auth)
		}
	}
	for _, t := range c.Transports {
		add(t.Auth[realm])
		add(t.Auth[AllRealms])
	}
	return roles
}
