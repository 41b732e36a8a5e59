package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/grafana-bridge/bridge"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Settings is a datasource's jsonData. Secrets come from secureJsonData:
// secret (the WAMP secret), tlsCACert (PEM CA), tlsClientCert and
// tlsClientKey (PEM client certificate and key).
type Settings struct {
	// URL of the router (default ws://127.0.0.1:8080/ws).
	URL string `json:"url"`
	// Profile telemesh or sisock; Realm and BaseURI override it.
	Profile    string `json:"profile"`
	Realm      string `json:"realm"`
	BaseURI    string `json:"baseUri"`
	AuthID     string `json:"authid"`
	AuthMethod string `json:"authmethod"`
	// CAFile is a PEM CA bundle on the Grafana host; tlsCACert in
	// secureJsonData (with TLSAuthWithCACert) gives one inline instead.
	CAFile     string `json:"caFile"`
	Serializer string `json:"serializer"`
	// NodeTimeout in seconds bounds each node call (default 10).
	NodeTimeout float64 `json:"nodeTimeout"`
	// DefaultAgg applies to queries that name no aggregation.
	DefaultAgg string `json:"defaultAgg"`
	// TLSSkipVerify accepts any router certificate (tests and labs only).
	TLSSkipVerify bool `json:"tlsSkipVerify"`
	// TLSAuth presents tlsClientCert and tlsClientKey to the router.
	TLSAuth bool `json:"tlsAuth"`
	// TLSAuthWithCACert trusts the inline tlsCACert.
	TLSAuthWithCACert bool `json:"tlsAuthWithCACert"`
	// ServerName overrides the host name checked in the router's certificate.
	ServerName string `json:"serverName"`
}

// settingKind is how a jsonData key is decoded: leniently, because
// provisioning files templated from the environment turn numbers and
// booleans into strings.
type settingKind int

const (
	kindString settingKind = iota
	kindNumber
	kindBool
)

// settingKeys lists every key Settings reads, with its kind and target.
func settingKeys(s *Settings) map[string]struct {
	kind settingKind
	ptr  any
} {
	type entry = struct {
		kind settingKind
		ptr  any
	}
	return map[string]entry{
		"url": {kindString, &s.URL}, "profile": {kindString, &s.Profile}, "realm": {kindString, &s.Realm},
		"baseUri": {kindString, &s.BaseURI}, "authid": {kindString, &s.AuthID}, "authmethod": {kindString, &s.AuthMethod},
		"caFile": {kindString, &s.CAFile}, "serializer": {kindString, &s.Serializer}, "defaultAgg": {kindString, &s.DefaultAgg},
		"serverName": {kindString, &s.ServerName}, "nodeTimeout": {kindNumber, &s.NodeTimeout},
		"tlsSkipVerify": {kindBool, &s.TLSSkipVerify}, "tlsAuth": {kindBool, &s.TLSAuth},
		"tlsAuthWithCACert": {kindBool, &s.TLSAuthWithCACert},
	}
}

// grafanaKeys are jsonData keys Grafana's own editors may store for any
// datasource; they are ignored without a warning.
var grafanaKeys = map[string]bool{"timeout": false, "oauthPassThru": true, "keepCookies": true, "httpMethod": true}

// DecodeSettings decodes jsonData leniently: unknown keys become warnings,
// numbers and booleans may be given as strings. The error lists every key
// that could not be decoded.
func DecodeSettings(raw []byte) (Settings, []string, error) {
	var st Settings
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return st, nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return st, nil, fmt.Errorf("jsonData is not a JSON object: %w", err)
	}
	keys := settingKeys(&st)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var warnings []string
	var errs []error
	for _, k := range names {
		e, ok := keys[k]
		if !ok {
			if !grafanaKeys[k] {
				warnings = append(warnings, fmt.Sprintf("unknown setting %q ignored", k))
			}
			continue
		}
		if err := decodeLenient(m[k], e.kind, e.ptr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return st, warnings, errors.Join(errs...)
}

func decodeLenient(raw json.RawMessage, kind settingKind, ptr any) error {
	if string(raw) == "null" {
		return nil
	}
	var s string
	isString := json.Unmarshal(raw, &s) == nil
	s = strings.TrimSpace(s)
	switch kind {
	case kindString:
		if isString {
			*ptr.(*string) = s
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			*ptr.(*string) = n.String()
			return nil
		}
		return fmt.Errorf("want a string, got %s", raw)
	case kindNumber:
		if isString {
			if s == "" {
				return nil
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", s)
			}
			*ptr.(*float64) = f
			return nil
		}
		if err := json.Unmarshal(raw, ptr); err != nil {
			return fmt.Errorf("want a number, got %s", raw)
		}
		return nil
	default:
		if isString {
			if s == "" {
				return nil
			}
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%q is not true or false", s)
			}
			*ptr.(*bool) = b
			return nil
		}
		var f float64
		if json.Unmarshal(raw, &f) == nil && (f == 0 || f == 1) {
			*ptr.(*bool) = f == 1
			return nil
		}
		if err := json.Unmarshal(raw, ptr); err != nil {
			return fmt.Errorf("want true or false, got %s", raw)
		}
		return nil
	}
}

// DefaultURL is the router URL when the settings give none.
const DefaultURL = "ws://127.0.0.1:8080/ws"

// Parsed is a datasource's decoded and checked settings.
type Parsed struct {
	Config   wampx.Config
	Names    protocol.Names
	Options  bridge.Options
	Warnings []string
}

// ParseSettings decodes and checks a datasource's settings. Unknown keys
// are warnings; the error names every setting that is wrong.
func ParseSettings(s backend.DataSourceInstanceSettings) (Parsed, error) {
	st, warnings, derr := DecodeSettings(s.JSONData)
	p := Parsed{Warnings: warnings}
	errs := []error{derr}
	n, err := protocol.Profile(st.Profile)
	errs = append(errs, settingErr("profile", err))
	if st.Realm != "" {
		n.Realm = st.Realm
	}
	if st.BaseURI != "" {
		n.Base = st.BaseURI
	}
	if st.URL == "" {
		st.URL = s.URL
	}
	if st.URL == "" {
		st.URL = DefaultURL
	}
	if st.NodeTimeout < 0 {
		errs = append(errs, fmt.Errorf("nodeTimeout: %v is negative", st.NodeTimeout))
	}
	if st.DefaultAgg != "" {
		errs = append(errs, settingErr("defaultAgg", protocol.CheckAgg(st.DefaultAgg)))
	}
	secure := s.DecryptedSecureJSONData
	cfg := wampx.Config{URL: st.URL, Realm: n.Realm, AuthID: st.AuthID, AuthMethod: st.AuthMethod,
		Secret: secure["secret"], CAFile: st.CAFile, ServerName: st.ServerName, Serializer: st.Serializer}
	tc, err := clientTLS(st, secure)
	errs = append(errs, err)
	cfg.TLS = tc
	if _, err := cfg.ClientConfig(nil); err != nil {
		errs = append(errs, err)
	}
	p.Config, p.Names = cfg, n
	p.Options = bridge.Options{NodeTimeout: time.Duration(st.NodeTimeout * float64(time.Second)), DefaultAgg: st.DefaultAgg}
	if err := errors.Join(errs...); err != nil {
		name := s.Name
		if name == "" {
			name = s.UID
		}
		return p, fmt.Errorf("datasource %s settings: %w", name, err)
	}
	return p, nil
}

func settingErr(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", key, err)
}

// clientTLS builds the TLS configuration the inline settings ask for, or
// nil when CAFile (or the system pool) is enough.
func clientTLS(st Settings, secure map[string]string) (*tls.Config, error) {
	if !st.TLSSkipVerify && !st.TLSAuth && !st.TLSAuthWithCACert {
		return nil, nil
	}
	tc, err := wampx.ClientTLS(st.CAFile, st.ServerName)
	if err != nil {
		return nil, settingErr("caFile", err)
	}
	var errs []error
	tc.InsecureSkipVerify = st.TLSSkipVerify // #nosec G402 -- an explicit, documented opt-in
	if st.TLSAuthWithCACert {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(secure["tlsCACert"])) {
			errs = append(errs, errors.New("tlsCACert: no PEM certificate in secureJsonData.tlsCACert"))
		}
		tc.RootCAs = pool
	}
	if st.TLSAuth {
		cert, err := tls.X509KeyPair([]byte(secure["tlsClientCert"]), []byte(secure["tlsClientKey"]))
		if err != nil {
			errs = append(errs, fmt.Errorf("tlsClientCert/tlsClientKey: %w", err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, errors.Join(errs...)
}

// ConsumersConnect connects each datasource instance to its router with a
// consumers.Client that keeps its session (reconnecting) until stop.
func ConsumersConnect(logger *slog.Logger) Connect {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(_ context.Context, p Parsed) (bridge.Source, func(), error) {
		dial, err := p.Config.Dialer(logger)
		if err != nil {
			return nil, nil, err
		}
		c := consumers.New(dial, p.Names, logger)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("telemesh session ended", "err", err)
			}
		}()
		return c, func() { cancel(); <-done }, nil
	}
}
