package bridge

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/telemesh/telemesh/protocol"
)

// Config configures the HTTP face of the bridge.
type Config struct {
	// Listen is the TCP address to serve on (default 127.0.0.1:5000).
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey, both set, make the server speak HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// AuthToken, when set, admits requests carrying "Authorization: Bearer <token>".
	AuthToken string `yaml:"auth_token"`
	// BasicUser and BasicPassword, when set, admit HTTP basic auth.
	BasicUser     string `yaml:"basic_user"`
	BasicPassword string `yaml:"basic_password"`
	// AuthTokenFile holds the bearer token when AuthToken is empty; Ensure
	// creates it with a random token when it does not exist.
	AuthTokenFile string `yaml:"auth_token_file"`
	// AllowAnonymous serves without authentication on a non-loopback
	// address, which is otherwise refused.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// CORSOrigins are the browser origins allowed to read answers ("*" for
	// any); empty sends no CORS headers, so browsers on other origins (and
	// DNS rebinding pages) cannot read the data.
	CORSOrigins []string `yaml:"cors_origins"`
	// MaxBodyBytes bounds a request body (default 256 KiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxTargets bounds the series one request may ask for, after
	// duplicates are removed and variables and wildcards expanded (default
	// 100); MaxRequestPoints bounds the points of one answer (default
	// 200000): maxDataPoints is lowered to fit.
	MaxTargets       int `yaml:"max_targets"`
	MaxRequestPoints int `yaml:"max_request_points"`
	// MaxInFlight bounds the data requests served at once (default 8);
	// more wait for a slot, so memory stays bounded under load.
	MaxInFlight int `yaml:"max_in_flight"`
	// Timeouts of the HTTP server: reading the headers (default 10s), the
	// whole request with its body (default 30s), and an idle keep-alive
	// connection (default 30s). Writing an answer may take up to twice
	// the node timeout plus ten seconds.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// Options tune the query core.
	Options Options `yaml:"-"`
}

// Default limits of the HTTP face.
const (
	DefaultMaxBodyBytes      = 256 << 10
	DefaultMaxInFlight       = 8
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
)

// Loopback reports whether listen (host:port) binds only loopback addresses.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Ensure makes authentication the default outside loopback: it reads
// AuthTokenFile (creating it, mode 0600, with a random token when missing)
// and refuses a non-loopback listener that has no credentials unless
// AllowAnonymous is set. created is the token file it wrote, if any.
func (c *Config) Ensure() (created string, err error) {
	if c.AuthToken == "" && c.AuthTokenFile != "" {
		b, err := os.ReadFile(c.AuthTokenFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			tok := make([]byte, 24)
			if _, err := rand.Read(tok); err != nil {
				return "", err
			}
			c.AuthToken = hex.EncodeToString(tok)
			if err := os.WriteFile(c.AuthTokenFile, []byte(c.AuthToken+"\n"), 0o600); err != nil {
				return "", fmt.Errorf("grafana bridge: writing the token: %w", err)
			}
			created = c.AuthTokenFile
		case err != nil:
			return "", fmt.Errorf("grafana bridge: reading the token: %w", err)
		default:
			if c.AuthToken = strings.TrimSpace(string(b)); c.AuthToken == "" {
				return "", fmt.Errorf("grafana bridge: token file %s is empty", c.AuthTokenFile)
			}
		}
	}
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	if c.AuthToken == "" && c.BasicUser == "" && !c.AllowAnonymous && !Loopback(listen) {
		return created, fmt.Errorf("grafana bridge: %s is not a loopback address and no authentication is set: "+
			"give a bearer token (--auth-token-file) or basic auth (--basic-auth-file), or allow anonymous access explicitly (--no-auth)", listen)
	}
	return created, nil
}

// DefaultListen is the default address of the HTTP bridge, sisock-http's port.
const DefaultListen = "127.0.0.1:5000"

// Validate checks the configuration.
func (c Config) Validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls: set both the certificate and the key, or neither")
	}
	if (c.BasicUser == "") != (c.BasicPassword == "") {
		return errors.New("basic auth: set both the user and the password, or neither")
	}
	if c.MaxBodyBytes < 0 || c.MaxInFlight < 0 || c.MaxTargets < 0 || c.MaxRequestPoints < 0 || c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0 {
		return errors.New("max_body_bytes, max_targets, max_request_points, max_in_flight and the timeouts must not be negative")
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("cors origin %q: want * or http(s)://host[:port]", o)
		}
	}
	if c.Options.DefaultAgg != "" {
		if err := protocol.CheckAgg(c.Options.DefaultAgg); err != nil {
			return fmt.Errorf("default aggregation: %w", err)
		}
	}
	return nil
}

// Server is the HTTP face of the bridge: the SimpleJSON and simPod JSON
// datasource protocols, Prometheus metrics and a health check.
//
// POST /metrics is simPod's metric listing, GET /metrics is Prometheus text.
type Server struct {
	cfg  Config
	core *Core
	log  *slog.Logger
	h    http.Handler

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	slots chan struct{} // MaxInFlight tokens for data requests

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// NewServer returns a server answering from src. It refuses to serve a
// non-loopback address without authentication (see Config.Ensure).
func NewServer(cfg Config, src Source, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.Ensure(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("grafana bridge: nil source")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, DefaultMaxInFlight)
	cfg.MaxTargets = cmp.Or(cfg.MaxTargets, DefaultMaxTargets)
	cfg.MaxRequestPoints = cmp.Or(cfg.MaxRequestPoints, DefaultMaxRequestPoints)
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	s := &Server{cfg: cfg, core: NewCore(src, cfg.Options, logger), log: logger, ready: make(chan struct{}),
		slots: make(chan struct{}, cfg.MaxInFlight)}
	s.reg = prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "telemesh_bridge_requests_total", Help: "HTTP requests by endpoint and status code.",
	}, []string{"endpoint", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "telemesh_bridge_request_seconds", Help: "HTTP request latency by endpoint.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"endpoint"})
	s.reg.MustRegister(s.requests, s.duration, prometheus.NewGoCollector())
	s.h = s.routes()
	return s, nil
}

// Core returns the query core of the server.
func (s *Server) Core() *Core { return s.core }

// Handler returns the server's HTTP handler (auth and CORS included).
func (s *Server) Handler() http.Handler { return s.h }

// Ready is closed once Run listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address once Ready is closed.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("grafana bridge: %w", err)
	}
	srv := s.httpServer()
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			l.Close()
			return fmt.Errorf("grafana bridge: tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("grafana bridge listening", "addr", l.Addr().String(), "tls", s.cfg.TLSCert != "")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grafana bridge: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("grafana bridge: shutdown: %w", err)
	}
	return nil
}

// httpServer is the HTTP server with the configured timeouts: a peer that
// sends its headers or body slowly, or keeps an idle connection, loses it.
func (s *Server) httpServer() *http.Server {
	return &http.Server{Handler: s.h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      2*s.core.opts.NodeTimeout + 10*time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, endpoint string, f handlerFunc) {
		mux.Handle(pattern, s.instrument(endpoint, f))
	}
	handle("GET /{$}", "root", func(http.ResponseWriter, *http.Request) (any, error) {
		return map[string]string{"status": "ok", "service": "telemesh grafana bridge"}, nil
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	handle("POST /search", "search", s.search)
	handle("POST /query", "query", s.limited(s.query))
	handle("POST /annotations", "annotations", s.limited(s.annotations))
	handle("POST /tag-keys", "tag-keys", s.tagKeys)
	handle("POST /tag-values", "tag-values", s.tagValues)
	handle("POST /metrics", "metrics", s.metrics)
	handle("POST /metric-payload-options", "metric-payload-options", s.payloadOptions)
	handle("POST /variable", "variable", s.variable)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	return s.cors(s.auth(mux))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.core.opts.NodeTimeout)
	defer cancel()
	nodes, err := s.core.NodeNames(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "nodes": len(nodes)})
}

func (s *Server) instrument(endpoint string, f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		v, err := f(w, r)
		code := http.StatusOK
		if err != nil {
			code = StatusOf(err)
			if code >= 500 {
				s.log.Warn("grafana request failed", "endpoint", endpoint, "err", err)
			}
			writeError(w, code, err.Error())
		} else {
			writeJSON(w, code, v)
		}
		s.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
		s.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}

// limited runs f once a data-request slot is free: at most MaxInFlight
// answers are being built at any time.
func (s *Server) limited(f handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		select {
		case s.slots <- struct{}{}:
		case <-r.Context().Done():
			return nil, protocol.Errorf(protocol.Unavailable, "bridge busy: %v", r.Context().Err())
		}
		defer func() { <-s.slots }()
		return f(w, r)
	}
}

// corsOrigin is the Access-Control-Allow-Origin answer for origin, or ""
// when it is not allowed.
func (s *Server) corsOrigin(origin string) string {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" {
			return "*"
		}
		if origin != "" && strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

// cors answers browsers on the configured origins only; without
// CORSOrigins no CORS header is ever sent.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		allow := s.corsOrigin(r.Header.Get("Origin"))
		if allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
		}
		if allow != "*" {
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && allow != "" {
			h.Set("Access-Control-Allow-Headers", "accept, content-type, authorization")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.AuthToken == "" && s.cfg.BasicUser == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		if s.cfg.BasicUser != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="telemesh"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="telemesh"`)
		}
		s.requests.WithLabelValues("auth", "401").Inc()
		writeError(w, http.StatusUnauthorized, "authentication required")
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if tok := s.cfg.AuthToken; tok != "" {
		const p = "Bearer "
		if h := r.Header.Get("Authorization"); len(h) > len(p) && h[:len(p)] == p && equal(h[len(p):], tok) {
			return true
		}
	}
	if s.cfg.BasicUser != "" {
		u, p, ok := r.BasicAuth()
		// Both comparisons run so that timing does not tell which one failed.
		uok, pok := equal(u, s.cfg.BasicUser), equal(p, s.cfg.BasicPassword)
		if ok && uok && pok {
			return true
		}
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// httpError is an error with an HTTP status of its own.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// StatusOf maps an error to the HTTP status Grafana shows. It is the one
// table for both faces: the plugin's resource handler answers with it too.
func StatusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.code
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return http.StatusBadGateway
	}
	switch pe.Kind {
	case protocol.InvalidArgument:
		return http.StatusBadRequest
	case protocol.UnknownField, protocol.NoSuchNode:
		return http.StatusNotFound
	case protocol.TooMuchData:
		return http.StatusUnprocessableEntity
	case protocol.NotAuthorized:
		return http.StatusForbidden
	case protocol.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// WriteResult answers v as JSON, or err as {"error": ...} with the status
// StatusOf gives it.
func WriteResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, StatusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, errEOF) {
			return nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: trailing data")
	}
	return nil
}
