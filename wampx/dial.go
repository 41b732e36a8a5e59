package wampx

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
)

// A Dialer opens a new WAMP session. Components take a Dialer rather than
// a URL so that the same code runs against a remote router or in-process.
type Dialer func(ctx context.Context) (*client.Client, error)

// Config says how to reach a router and authenticate to it.
type Config struct {
	// URL of the router: ws://, wss://, tcp://, tcps:// or unix://.
	URL string `yaml:"url"`
	// Realm to join.
	Realm string `yaml:"realm"`
	// AuthID identifies the client; empty for anonymous access.
	AuthID string `yaml:"authid"`
	// AuthMethod is anonymous, ticket, wampcra or cryptosign. Empty means
	// anonymous without an authid and wampcra with one.
	AuthMethod string `yaml:"authmethod"`
	// Secret is the ticket, the WAMP-CRA secret, or the hex Ed25519 seed
	// (32 bytes) or private key (64 bytes) for cryptosign.
	Secret string `yaml:"secret"`
	// SecretFile holds the secret instead; surrounding white space is dropped.
	SecretFile string `yaml:"secret_file"`
	// CAFile is a PEM bundle of the certificate authorities to trust for
	// wss:// and tcps://; empty means the system pool.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the host name checked in the router's certificate.
	ServerName string `yaml:"server_name"`
	// TLS, when set, is the TLS client configuration for wss:// and tcps://
	// (inline CA, client certificate), used instead of CAFile.
	TLS *tls.Config `yaml:"-"`
	// Serializer is json, msgpack (default) or cbor.
	Serializer string `yaml:"serializer"`
	// Timeout bounds connecting and each router response; default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// KeepAlive is the WebSocket ping interval; default 10s, negative disables.
	KeepAlive time.Duration `yaml:"keep_alive"`
}

// ReadSecret returns the configured secret, from SecretFile if set.
func (c Config) ReadSecret() (string, error) {
	if c.SecretFile == "" {
		return c.Secret, nil
	}
	b, err := os.ReadFile(c.SecretFile)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Serialization parses a serializer name.
func Serialization(name string) (serialize.Serialization, error) {
	switch strings.ToLower(name) {
	case "", "msgpack":
		return serialize.MSGPACK, nil
	case "json":
		return serialize.JSON, nil
	case "cbor":
		return serialize.CBOR, nil
	}
	return 0, fmt.Errorf("unknown serializer %q (want json, msgpack or cbor)", name)
}

// ClientConfig builds the nexus client configuration for c: authentication
// handlers, TLS and serializer. logger may be nil.
func (c Config) ClientConfig(logger *slog.Logger) (client.Config, error) {
	if c.Realm == "" {
		return client.Config{}, errors.New("no realm configured")
	}
	ser, err := Serialization(c.Serializer)
	if err != nil {
		return client.Config{}, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ka := c.KeepAlive
	if ka == 0 {
		ka = 10 * time.Second
	} else if ka < 0 {
		ka = 0
	}
	cfg := client.Config{
		Realm:           c.Realm,
		HelloDetails:    wamp.Dict{},
		Serialization:   ser,
		ResponseTimeout: timeout,
		Logger:          StdLog(logger),
		WsCfg:           transport.WebsocketConfig{KeepAlive: ka},
	}
	if err := c.setAuth(&cfg); err != nil {
		return client.Config{}, err
	}
	if strings.HasPrefix(c.URL, "wss:") || strings.HasPrefix(c.URL, "tcps:") || strings.HasPrefix(c.URL, "https:") {
		tc := c.TLS
		if tc == nil {
			var err error
			if tc, err = ClientTLS(c.CAFile, c.ServerName); err != nil {
				return client.Config{}, err
			}
		}
		cfg.TlsCfg = tc
	}
	return cfg, nil
}

func (c Config) setAuth(cfg *client.Config) error {
	method := c.AuthMethod
	if method == "" {
		method = "anonymous"
		if c.AuthID != "" {
			method = "wampcra"
		}
	}
	if c.AuthID != "" {
		cfg.HelloDetails["authid"] = c.AuthID
	}
	if method == "anonymous" {
		return nil
	}
	if c.AuthID == "" {
		return fmt.Errorf("authmethod %s needs an authid", method)
	}
	secret, err := c.ReadSecret()
	if err != nil {
		return err
	}
	if secret == "" {
		return fmt.Errorf("authmethod %s needs a secret (secret or secret_file)", method)
	}
	switch method {
	case "ticket":
		cfg.AuthHandlers = map[string]client.AuthFunc{"ticket": func(*wamp.Challenge) (string, wamp.Dict) {
			return secret, wamp.Dict{}
		}}
	case "wampcra":
		cfg.AuthHandlers = map[string]client.AuthFunc{"wampcra": func(ch *wamp.Challenge) (string, wamp.Dict) {
			return crsign.RespondChallenge(secret, ch, nil), wamp.Dict{}
		}}
	case "cryptosign":
		key, err := ParseEd25519(secret)
		if err != nil {
			return err
		}
		pub := key.Public().(ed25519.PublicKey)
		cfg.HelloDetails["authextra"] = wamp.Dict{"pubkey": hex.EncodeToString(pub)}
		cfg.AuthHandlers = map[string]client.AuthFunc{"cryptosign": func(ch *wamp.Challenge) (string, wamp.Dict) {
			chHex, _ := wamp.AsString(ch.Extra["challenge"])
			msg, err := hex.DecodeString(chHex)
			if err != nil {
				return "", wamp.Dict{}
			}
			sig := ed25519.Sign(key, msg)
			return hex.EncodeToString(sig) + chHex, wamp.Dict{}
		}}
	default:
		return fmt.Errorf("unknown authmethod %q (want anonymous, ticket, wampcra or cryptosign)", method)
	}
	return nil
}

// ParseEd25519 parses a hex Ed25519 seed (32 bytes) or private key (64 bytes).
func ParseEd25519(s string) (ed25519.PrivateKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("cryptosign key is not hex: %w", err)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("cryptosign key has %d bytes, want 32 (seed) or 64", len(b))
}

// ClientTLS returns a TLS client configuration trusting the PEM bundle in
// caFile (or the system pool when empty).
func ClientTLS(caFile, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// Dialer returns a Dialer that connects to c.URL over the network.
func (c Config) Dialer(logger *slog.Logger) (Dialer, error) {
	if c.URL == "" {
		return nil, errors.New("no router URL configured")
	}
	cfg, err := c.ClientConfig(logger)
	if err != nil {
		return nil, err
	}
	url := c.URL
	return func(ctx context.Context) (*client.Client, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.ResponseTimeout)
		defer cancel()
		// nexus writes into HelloDetails while joining, so every session
		// gets its own copy; a shared map would race between sessions.
		cfg := cfg
		cfg.HelloDetails = maps.Clone(cfg.HelloDetails)
		cl, err := connect(ctx, url, cfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s realm %s: %w", url, cfg.Realm, err)
		}
		return cl, nil
	}, nil
}
