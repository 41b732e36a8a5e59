// Package influx is the archiver's InfluxDB line protocol sink over HTTP.
// InfluxDB 1.x (/write), InfluxDB 2.x (/api/v2/write) and VictoriaMetrics,
// single-node (/write) and cluster (vminsert's /insert/<tenant>/influx/write),
// all take it: batches are gzipped, times are nanoseconds, and the same
// series and time overwrite one point (VictoriaMetrics with
// -dedup.minScrapeInterval). Token or basic auth, and TLS with a private CA
// or a client certificate.
package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/telemesh/telemesh/archive"
)

// Sample is the documented configuration block.
const Sample = `- type: influx
  name: vm
  url: http://127.0.0.1:8428   # base URL of the engine
  api: vm                      # v1 (InfluxDB 1.x), v2 (InfluxDB 2.x) or vm (VictoriaMetrics)
  # path: /insert/0/influx/write   # override the write path (vminsert)
  # database: telemesh         # v1: created on first write unless create_database: false
  # retention_policy: ""       # v1
  # org: lab                   # v2
  # bucket: telemesh           # v2
  # token_file: /run/secrets/influx-token   # v2 "Token", otherwise "Bearer"
  # username: archiver         # basic auth, with password or password_file
  # ca_file: /etc/telemesh/ca.pem
  # cert_file / key_file: client certificate
  # insecure_skip_verify: false
  # gzip: true
  # timeout: 30s
  naming:
    preset: telemesh           # telemesh: telemesh,node=..,field=.. value=..; ocs: <agent> <key>=.. feed=..
    # measurement: "{node}"
    # field: "{field}"
    # tags: {node: "{node}", timeline: "{timeline}"}
    # strings: {units: "{units}"}
`

func init() {
	archive.RegisterSink(archive.SinkType{
		Name:   "influx",
		Usage:  "InfluxDB line protocol over HTTP: InfluxDB 1.x and 2.x, VictoriaMetrics",
		Sample: Sample,
		Open:   archive.Opener(Open),
	})
}

// Config is the sink's block.
type Config struct {
	archive.Head       `yaml:",inline"`
	URL                string        `yaml:"url"`
	API                string        `yaml:"api"`
	Path               string        `yaml:"path"`
	Database           string        `yaml:"database"`
	RetentionPolicy    string        `yaml:"retention_policy"`
	CreateDatabase     *bool         `yaml:"create_database"`
	Org                string        `yaml:"org"`
	Bucket             string        `yaml:"bucket"`
	Token              string        `yaml:"token"`
	TokenFile          string        `yaml:"token_file"`
	Username           string        `yaml:"username"`
	Password           string        `yaml:"password"`
	PasswordFile       string        `yaml:"password_file"`
	CAFile             string        `yaml:"ca_file"`
	CertFile           string        `yaml:"cert_file"`
	KeyFile            string        `yaml:"key_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Gzip               *bool         `yaml:"gzip"`
	Timeout            time.Duration `yaml:"timeout"`
	Naming             Naming        `yaml:"naming"`
}

// Sink writes line protocol batches.
type Sink struct {
	cfg    Config
	naming compiled
	write  string // full write URL
	auth   string // Authorization header
	hc     *http.Client
	gzip   bool

	mu      sync.Mutex
	created bool // v1 database created
}

// Open checks a block and returns its sink; it does not connect.
func Open(block []byte) (*Sink, error) { return archive.OpenBlock(block, New) }

// New returns the sink of a decoded configuration.
func New(c Config) (*Sink, error) {
	if c.URL == "" {
		return nil, errors.New("url: missing (e.g. http://127.0.0.1:8428)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an http:// or https:// URL", c.URL)
	}
	if c.API == "" {
		c.API = "v1"
	}
	q := url.Values{"precision": {"ns"}}
	path := c.Path
	switch c.API {
	case "v1":
		if c.Database == "" {
			c.Database = "telemesh"
		}
		q.Set("db", c.Database)
		if c.RetentionPolicy != "" {
			q.Set("rp", c.RetentionPolicy)
		}
		if path == "" {
			path = "/write"
		}
	case "v2":
		if c.Org == "" || c.Bucket == "" {
			return nil, errors.New("org and bucket: both are needed with api: v2")
		}
		q.Set("org", c.Org)
		q.Set("bucket", c.Bucket)
		if path == "" {
			path = "/api/v2/write"
		}
	case "vm":
		if path == "" {
			path = "/write"
		}
	default:
		return nil, fmt.Errorf("api: %q is not v1, v2 or vm", c.API)
	}
	if c.Token, err = secret("token", c.Token, c.TokenFile); err != nil {
		return nil, err
	}
	if c.Password, err = secret("password", c.Password, c.PasswordFile); err != nil {
		return nil, err
	}
	s := &Sink{cfg: c, gzip: c.Gzip == nil || *c.Gzip}
	switch {
	case c.Token != "" && c.Username != "":
		return nil, errors.New("token and username: give one way to authenticate, not both")
	case c.Token != "" && c.API == "v2":
		s.auth = "Token " + c.Token
	case c.Token != "":
		s.auth = "Bearer " + c.Token
	case c.Username != "":
		if c.Password == "" {
			return nil, errors.New("password: missing for username " + strconv.Quote(c.Username))
		}
	case c.Password != "":
		return nil, errors.New("username: missing for the password")
	}
	n, err := c.Naming.resolve()
	if err != nil {
		return nil, err
	}
	s.naming = n.compile()
	tc, err := tlsConfig(c)
	if err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Timeout < 0 {
		return nil, errors.New("timeout: must be positive")
	}
	if tc != nil && u.Scheme != "https" {
		return nil, errors.New("ca_file, cert_file, insecure_skip_verify: need an https:// url")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	s.hc = &http.Client{Transport: tr, Timeout: c.Timeout}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	s.write = u.String()
	s.cfg = c
	return s, nil
}

func secret(name, v, file string) (string, error) {
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s_file: give one, not both", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s_file: %s is empty", name, file)
	}
	return s, nil
}

func tlsConfig(c Config) (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" && !c.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("cert_file and key_file: give both or neither")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Write sends pts in one request (split in halves if the engine finds it
// too large). Non-finite numbers, which no engine takes, are reported as
// rejected after the rest is written.
func (s *Sink) Write(ctx context.Context, pts []archive.Point) error {
	if err := s.ensureDatabase(ctx); err != nil {
		return err
	}
	var buf bytes.Buffer
	bad := 0
	for i := range pts {
		if !s.line(&buf, &pts[i]) {
			bad++
		}
	}
	if err := s.post(ctx, buf.Bytes(), len(pts)); err != nil {
		if errors.Is(err, errTooLarge) && len(pts) > 1 {
			h := len(pts) / 2
			if err := s.Write(ctx, pts[:h]); err != nil {
				return err
			}
			return s.Write(ctx, pts[h:])
		}
		return err
	}
	if bad > 0 {
		return archive.Rejected(bad, fmt.Errorf("%d non-finite values (NaN or Inf) left out", bad))
	}
	return nil
}

var errTooLarge = errors.New("request too large")

var droppedRE = regexp.MustCompile(`dropped=(\d+)`)

func (s *Sink) post(ctx context.Context, body []byte, n int) error {
	if len(body) == 0 {
		return nil
	}
	var rd io.Reader = bytes.NewReader(body)
	if s.gzip {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		rd = &z
	}
	ctype, enc := "text/plain; charset=utf-8", ""
	if s.gzip {
		enc = "gzip"
	}
	resp, msg, err := s.do(ctx, s.write, ctype, enc, rd)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("%s: %s: %s", s.cfg.URL, resp.Status, strings.TrimSpace(string(msg)))
	switch {
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %w", errTooLarge, err)
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity:
		// A field type conflict or a malformed point: retrying cannot help.
		// InfluxDB 1.x wrote the others and says how many it dropped.
		k := n
		if m := droppedRE.FindSubmatch(msg); m != nil {
			k, _ = strconv.Atoi(string(m[1]))
		}
		return archive.Rejected(k, err)
	}
	return err // auth, missing database, overload, 5xx: retried
}

// ensureDatabase creates the v1 database once (InfluxDB 1.x answers 404
// to writes into a database that does not exist).
func (s *Sink) ensureDatabase(ctx context.Context) error {
	if s.cfg.API != "v1" || (s.cfg.CreateDatabase != nil && !*s.cfg.CreateDatabase) {
		return nil
	}
	s.mu.Lock()
	done := s.created
	s.mu.Unlock()
	if done {
		return nil
	}
	u, _ := url.Parse(s.cfg.URL)
	u.Path = strings.TrimRight(u.Path, "/") + "/query"
	form := url.Values{"q": {"CREATE DATABASE " + strconv.Quote(s.cfg.Database)}}
	resp, msg, err := s.do(ctx, u.String(), "application/x-www-form-urlencoded", "", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("creating database %q: %s: %s", s.cfg.Database, resp.Status, strings.TrimSpace(string(msg)))
	}
	s.mu.Lock()
	s.created = true
	s.mu.Unlock()
	return nil
}

// do posts body with the sink's authentication and returns the answer
// and the start of its body.
func (s *Sink) do(ctx context.Context, u, ctype, encoding string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", ctype)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	} else if s.cfg.Username != "" {
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp, msg, nil
}

// line appends p's line; false (and nothing written) for a non-finite
// number.
func (s *Sink) line(b *bytes.Buffer, p *archive.Point) bool {
	var val string
	switch v := p.Value.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
		val = strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		val = strconv.FormatBool(v)
	case string:
		val = quote(v)
	default:
		return false
	}
	n := &s.naming
	b.WriteString(measurementEsc.Replace(n.measurement.expand(p)))
	for _, k := range n.tags {
		v := k.t.expand(p)
		if v == "" {
			continue
		}
		b.WriteByte(',')
		b.WriteString(k.key)
		b.WriteByte('=')
		b.WriteString(keyEsc.Replace(v))
	}
	b.WriteByte(' ')
	b.WriteString(keyEsc.Replace(n.field.expand(p)))
	b.WriteByte('=')
	b.WriteString(val)
	for _, k := range n.strings {
		if v := k.t.expand(p); v != "" {
			b.WriteByte(',')
			b.WriteString(k.key)
			b.WriteByte('=')
			b.WriteString(quote(v))
		}
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(p.Time, 10))
	b.WriteByte('\n')
	return true
}

var (
	measurementEsc = strings.NewReplacer(",", `\,`, " ", `\ `, "\n", `\n`)
	keyEsc         = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `, "\n", `\n`)
	stringEsc      = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
)

func quote(s string) string { return `"` + stringEsc.Replace(s) + `"` }

// Close releases idle connections.
func (s *Sink) Close() error {
	s.hc.CloseIdleConnections()
	return nil
}
