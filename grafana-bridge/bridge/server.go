package bridge

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
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
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Options tune the query core.
	Options Options `yaml:"-"`
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
	if c.MaxBodyBytes < 0 {
		return errors.New("max_body_bytes must not be negative")
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

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// NewServer returns a server answering from src.
func NewServer(cfg Config, src Source, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
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
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	s := &Server{cfg: cfg, core: NewCore(src, cfg.Options, logger), log: logger, ready: make(chan struct{})}
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
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
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
	handle("POST /query", "query", s.query)
	handle("POST /annotations", "annotations", s.annotations)
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

func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
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
