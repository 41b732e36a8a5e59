package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/stdlog"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/telemesh/telemesh/wampx"
)

// handshakeTimeout bounds the TLS and RawSocket handshakes of a new
// connection and the headers of an HTTP request; nexus itself bounds the
// wait for HELLO.
const handshakeTimeout = 10 * time.Second

// HTTP side of the WebSocket listener: a request (headers and body) must
// arrive within httpReadTimeout and an idle keep-alive connection is
// closed after httpIdleTimeout. WebSocket connections are exempt once
// upgraded: their liveness is the pings'.
const (
	httpReadTimeout = 30 * time.Second
	httpIdleTimeout = 30 * time.Second
)

// writeTimeout bounds one write to a network peer; a peer that takes
// longer is dropped.
const writeTimeout = 10 * time.Second

// Server is a WAMP router with its listeners.
type Server struct {
	cfg     Config
	log     *slog.Logger
	nxlog   stdlog.StdLog
	router  nxrouter.Router
	metrics *metrics
	mux     *http.ServeMux
	upgrade *websocket.Upgrader
	wsTLS   *tls.Config
	rsTLS   *tls.Config
	roles   map[string]map[string]bool // realm -> role names
	// httpRead and httpIdle are httpReadTimeout and httpIdleTimeout
	// (shorter in tests).
	httpRead, httpIdle time.Duration

	ready          chan struct{}
	closing        atomic.Bool // closingGate (shutdown.go)
	mu             sync.Mutex
	addrs          Addrs
	transportAddrs map[string]string
}

// Addrs are the bound listener addresses (host:port, "" when disabled).
type Addrs struct {
	WebSocket string
	RawSocket string
}

// New builds a router from a configuration: it validates it, reads every
// secret and certificate and creates the realms. Listening starts in Run.
// A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      wampx.Logger(logger),
		metrics:  newMetrics(),
		mux:      http.NewServeMux(),
		ready:    make(chan struct{}),
		roles:    map[string]map[string]bool{},
		httpRead: httpReadTimeout,
		httpIdle: httpIdleTimeout,
	}
	s.nxlog = newCountingLog(s.log, s.metrics.dropped)
	var err error
	if s.wsTLS, err = serverTLS(cfg.Listeners.WebSocket.TLS); err != nil {
		return nil, fmt.Errorf("websocket listener: %w", err)
	}
	if s.rsTLS, err = serverTLS(cfg.Listeners.RawSocket.TLS); err != nil {
		return nil, fmt.Errorf("rawsocket listener: %w", err)
	}
	var realms []*nxrouter.RealmConfig
	for _, rc := range cfg.Realms {
		authrs, err := cfg.realmAuthenticators(rc)
		if err != nil {
			return nil, fmt.Errorf("realm %s: %w", rc.Name, err)
		}
		names := map[string]bool{}
		for _, r := range rc.Roles {
			names[r.Name] = true
		}
		s.roles[rc.Name] = names
		authrs = append(authrs, &localAuth{roles: names})
		az := NewAuthorizer(rc.Roles)
		az.OnDecision = s.metrics.decision(rc.Name)
		realms = append(realms, &nxrouter.RealmConfig{
			URI:               wamp.URI(rc.Name),
			AllowDisclose:     true,
			Authenticators:    authrs,
			Authorizer:        closingGate{Authorizer: countingAuthorizer{Authorizer: az, realm: rc.Name, m: s.metrics}, closing: &s.closing},
			RequireLocalAuth:  true,
			RequireLocalAuthz: true,
			// Meta events as crossbar shapes them (meta.go).
			PublishFilterFactory: crossbarMeta,
		})
	}
	s.router, err = nxrouter.NewRouter(&nxrouter.Config{RealmConfigs: realms}, s.nxlog)
	if err != nil {
		return nil, fmt.Errorf("creating router: %w", err)
	}
	// The nexus WebSocket server is only used for its upgrader, which
	// negotiates the WAMP subprotocols; origin.go checks the Origin header.
	s.upgrade = nxrouter.NewWebsocketServer(s.router).Upgrader
	ws := cfg.Listeners.WebSocket
	oc := newOriginChecker(ws.Origins, ws.Address, s.log)
	s.mux.Handle(ws.Path, s.webSocketHandler(mainListener, oc))
	s.mountWeb(s.mux, ws.Web, oc)
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/healthz", s.serveHealth)
	for _, rc := range cfg.Realms {
		c, err := s.dial(context.Background(), rc.Name, "router-metrics", trustedRole)
		if err == nil {
			err = s.metrics.watchSessions(c, rc.Name)
		}
		if err != nil {
			s.router.Close()
			return nil, fmt.Errorf("realm %s: metrics session: %w", rc.Name, err)
		}
	}
	return s, nil
}

func serverTLS(t TLSConfig) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// Handle serves h for pattern on the WebSocket listener's HTTP mux (for
// example a dashboard at "/"). Call it before Run.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Ready is closed once every listener is bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound listener addresses; valid after Ready.
func (s *Server) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// WebSocketURL returns the ws:// or wss:// URL of the WebSocket listener;
// valid after Ready.
func (s *Server) WebSocketURL() string {
	scheme := "ws"
	if s.wsTLS != nil {
		scheme = "wss"
	}
	return scheme + "://" + s.Addrs().WebSocket + s.cfg.Listeners.WebSocket.Path
}

// RawSocketURL returns the tcp:// or tcps:// URL of the RawSocket
// listener; valid after Ready.
func (s *Server) RawSocketURL() string {
	scheme := "tcp"
	if s.rsTLS != nil {
		scheme = "tcps"
	}
	return scheme + "://" + s.Addrs().RawSocket + "/"
}

// Run binds the listeners and serves until ctx ends, then closes the
// listeners, every session and the router.
func (s *Server) Run(ctx context.Context) error {
	defer s.router.Close()
	var wg sync.WaitGroup
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
		wg.Wait()
	}()
	if a := s.cfg.Listeners.WebSocket.Address; a != "" {
		l, err := listen(a, s.wsTLS)
		if err != nil {
			return fmt.Errorf("websocket listener: %w", err)
		}
		srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: min(handshakeTimeout, s.httpRead), ReadTimeout: s.httpRead, IdleTimeout: s.httpIdle, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("websocket listener stopped", "err", err)
			}
		}()
		closers = append(closers, func() { srv.Close() })
		s.mu.Lock()
		s.addrs.WebSocket = l.Addr().String()
		s.mu.Unlock()
		s.log.Info("websocket listener", "url", s.WebSocketURL())
	}
	if a := s.cfg.Listeners.RawSocket.Address; a != "" {
		l, err := listen(a, s.rsTLS)
		if err != nil {
			return fmt.Errorf("rawsocket listener: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveRawSocket(l, mainListener)
		}()
		closers = append(closers, func() { l.Close() })
		s.mu.Lock()
		s.addrs.RawSocket = l.Addr().String()
		s.mu.Unlock()
		s.log.Info("rawsocket listener", "url", s.RawSocketURL())
	}
	if err := s.listenTransports(&wg, &closers); err != nil {
		return err
	}
	close(s.ready)
	<-ctx.Done()
	s.log.Info("router shutting down")
	s.quiesce()
	return nil
}

func listen(addr string, tc *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		l = tls.NewListener(l, tc)
	}
	return l, nil
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.ready:
		w.Write([]byte("ok\n"))
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}
}

// webSocketHandler upgrades a request to listener and attaches the
// connection to the router. It replaces nexus's handler to bound the
// message size, to apply the listener's origin policy and to record the
// peer address (for loopback-only anonymous access) and the listener (for
// per-transport authentication).
func (s *Server) webSocketHandler(listener string, oc *originChecker) http.HandlerFunc {
	up := *s.upgrade
	up.CheckOrigin = oc.allowed
	return func(w http.ResponseWriter, r *http.Request) { s.serveWebSocket(w, r, &up, listener) }
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, up *websocket.Upgrader, listener string) {
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader has replied
	}
	name := strings.TrimPrefix(conn.Subprotocol(), "wamp.2.")
	c, ok := newCodec(name)
	if !ok {
		conn.Close()
		return
	}
	payload := websocket.BinaryMessage
	if c.json {
		payload = websocket.TextMessage
	}
	// The HTTP server's read deadline does not apply to the session.
	conn.NetConn().SetDeadline(time.Time{})
	peer := s.wirePeer(newWSConn(conn, payload), c)
	details := wamp.Dict{"type": "websocket", "peer": r.RemoteAddr, "listener": listener}
	if err := s.router.AttachClient(peer, details); err != nil {
		s.log.Debug("websocket client not attached", "remote", r.RemoteAddr, "err", err)
	}
}

// wirePeer wraps a network connection as a session's peer with the
// configured limits.
func (s *Server) wirePeer(fc frameConn, c *codec) *wirePeer {
	lim := wireLimits{
		maxMessage:   s.cfg.MaxMessageSize,
		preAuth:      min(s.cfg.PreAuthMessageSize, s.cfg.MaxMessageSize),
		queueLen:     s.cfg.OutQueueSize,
		queueBytes:   s.cfg.OutQueueBytes,
		keepAlive:    max(s.cfg.KeepAlive, 0),
		writeTimeout: writeTimeout,
	}
	return newWirePeer(fc, c, lim, s.log, s.metrics.dropped.Inc, s.metrics.droppedPeer)
}

// serveRawSocket accepts RawSocket connections to listener until l is
// closed.
func (s *Server) serveRawSocket(l net.Listener, listener string) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			remote := conn.RemoteAddr().String()
			conn.SetDeadline(time.Now().Add(handshakeTimeout))
			rc, name, err := acceptRawSocket(conn, s.cfg.MaxMessageSize)
			if err != nil {
				conn.Close()
				s.log.Debug("rawsocket handshake failed", "remote", remote, "err", err)
				return
			}
			c, _ := newCodec(name)
			conn.SetDeadline(time.Time{})
			peer := s.wirePeer(rc, c)
			details := wamp.Dict{"type": "rawsocket", "peer": remote, "listener": listener}
			if err := s.router.AttachClient(peer, details); err != nil {
				s.log.Debug("rawsocket client not attached", "remote", remote, "err", err)
			}
		}()
	}
}

// LocalDialer returns a Dialer of in-process sessions on the first realm,
// with authid and authrole (a role of that realm). In-process sessions are
// authorized like network ones; the reserved role "trusted", which the
// router uses for its own sessions, is allowed everything.
func (s *Server) LocalDialer(authid, authrole string) wampx.Dialer {
	return s.LocalRealmDialer(s.cfg.Realms[0].Name, authid, authrole)
}

// LocalRealmDialer is LocalDialer for a named realm.
func (s *Server) LocalRealmDialer(realm, authid, authrole string) wampx.Dialer {
	return func(ctx context.Context) (*client.Client, error) {
		return s.dial(ctx, realm, authid, authrole)
	}
}

func (s *Server) dial(ctx context.Context, realm, authid, authrole string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// As client.ConnectLocal, with the router's side guarded.
	local, routerSide := transport.LinkedPeersQSize(inboxQueue)
	go func() {
		err := s.router.AttachClient(guard(routerSide, s.cfg.LocalQueueSize, s.metrics.dropped.Inc), wamp.Dict{"type": "local"})
		if err != nil {
			s.log.Debug("local client not attached", "authid", authid, "err", err)
		}
	}()
	c, err := client.NewClient(local, client.Config{
		Realm:        realm,
		HelloDetails: wamp.Dict{"authid": authid, "authrole": authrole},
		AuthHandlers: map[string]client.AuthFunc{localMethod: func(*wamp.Challenge) (string, wamp.Dict) {
			return "", wamp.Dict{}
		}},
		LocalQueueSize: s.cfg.LocalQueueSize,
		Logger:         s.nxlog,
	})
	if err != nil {
		return nil, fmt.Errorf("joining realm %s in-process as %s: %w", realm, authid, err)
	}
	return c, nil
}

// localMethod authenticates in-process sessions; network peers cannot use
// it.
const localMethod = "x-telemesh-local"

// localAuth admits in-process sessions with the role they ask for.
type localAuth struct{ roles map[string]bool }

func (a *localAuth) AuthMethod() string { return localMethod }

func (a *localAuth) Authenticate(_ wamp.ID, details wamp.Dict, peer wamp.Peer) (*wamp.Welcome, error) {
	if !peer.IsLocal() {
		return nil, errors.New("authmethod is only for in-process sessions")
	}
	authid, _ := wamp.AsString(details["authid"])
	role, _ := wamp.AsString(details["authrole"])
	if role != trustedRole && !a.roles[role] {
		return nil, fmt.Errorf("unknown role %q", role)
	}
	if strings.TrimSpace(authid) == "" {
		return nil, errors.New("missing authid")
	}
	return &wamp.Welcome{Details: wamp.Dict{
		"authid": authid, "authrole": role, "authmethod": localMethod, "authprovider": "static",
	}}, nil
}

var _ auth.Authenticator = (*localAuth)(nil)
