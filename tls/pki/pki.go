// Package pki creates and inspects the small local certificate authority and
// server certificate that telemesh uses for TLS between its router and
// clients on a private network.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Default lifetimes. 825 days is the longest lifetime that Apple platforms
// accept for server certificates.
const (
	DefaultLifetime   = 825 * 24 * time.Hour
	DefaultCALifetime = 10 * 365 * 24 * time.Hour
)

// File names written by Init inside its directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "server.crt"
	KeyFile    = "server.key"
)

// Options configures Init.
type Options struct {
	// CN is the common name of the server certificate; it is also added
	// as a DNS SAN (or IP SAN when it parses as an IP address).
	CN string
	// SANs lists DNS names or IP addresses the server certificate is valid for.
	SANs []string
	// Lifetime is the validity of the server certificate (default 825 days).
	Lifetime time.Duration
	// CALifetime is the validity of a newly created CA (default 10 years).
	CALifetime time.Duration
	// Force allows replacing an existing server certificate and key.
	Force bool
}

// Paths holds the files written or reused by Init.
type Paths struct {
	CACert, CAKey, Cert, Key string
}

// ErrExists is returned by Init when a server certificate already exists and
// Options.Force is false.
var ErrExists = errors.New("server certificate already exists (use force to replace it)")

// Init creates, in dir, a local CA (reusing ca.crt/ca.key when both exist)
// and a server certificate and key signed by it. Keys are written with mode
// 0600 and certificates with mode 0644.
func Init(dir string, o Options) (Paths, error) {
	p := Paths{
		CACert: filepath.Join(dir, CACertFile),
		CAKey:  filepath.Join(dir, CAKeyFile),
		Cert:   filepath.Join(dir, CertFile),
		Key:    filepath.Join(dir, KeyFile),
	}
	return issue(dir, p, o, func(o Options, tmpl *x509.Certificate, key *ecdsa.PrivateKey) ([]byte, error) {
		caCert, caKey, err := loadOrCreateCA(p, o.CALifetime)
		if err != nil {
			return nil, err
		}
		if tmpl.NotAfter.After(caCert.NotAfter) {
			tmpl.NotAfter = caCert.NotAfter
		}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, fmt.Errorf("pki: sign server certificate: %w", err)
		}
		return der, nil
	})
}

// issue writes p's server key and certificate: it applies the options'
// defaults, makes a key and the certificate template for the options'
// names, and has sign complete the template and sign it.
func issue(dir string, p Paths, o Options, sign func(Options, *x509.Certificate, *ecdsa.PrivateKey) ([]byte, error)) (Paths, error) {
	o, dns, ips, err := prepare(dir, p, o)
	if err != nil {
		return p, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("pki: generate key: %w", err)
	}
	cn := o.CN
	if cn == "" {
		if len(dns) > 0 {
			cn = dns[0]
		} else {
			cn = ips[0].String()
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"telemesh"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(o.Lifetime),
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := sign(o, tmpl, key)
	if err != nil {
		return p, err
	}
	if err := writeKey(p.Key, key); err != nil {
		return p, err
	}
	if err := writePEM(p.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return p, err
	}
	return p, nil
}

// prepare applies the default lifetimes, parses the names and checks that
// p's certificate and key may be written into dir, which it creates.
func prepare(dir string, p Paths, o Options) (Options, []string, []net.IP, error) {
	if o.Lifetime < 0 || o.CALifetime < 0 {
		return o, nil, nil, errors.New("pki: negative lifetime")
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.CALifetime == 0 {
		o.CALifetime = DefaultCALifetime
	}
	dns, ips, err := parseSANs(o.CN, o.SANs)
	if err != nil {
		return o, nil, nil, err
	}
	if len(dns) == 0 && len(ips) == 0 {
		return o, nil, nil, errors.New("pki: need a common name or at least one SAN")
	}
	if !o.Force {
		for _, f := range []string{p.Cert, p.Key} {
			if _, err := os.Stat(f); err == nil {
				return o, nil, nil, fmt.Errorf("pki: %s: %w", f, ErrExists)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return o, nil, nil, fmt.Errorf("pki: %w", err)
	}
	return o, dns, ips, nil
}

// parseSANs splits SAN entries (comma separated entries are accepted too)
// into DNS names and IP addresses, adding cn, and rejects malformed entries.
func parseSANs(cn string, sans []string) ([]string, []net.IP, error) {
	var dns []string
	var ips []net.IP
	seen := map[string]bool{}
	add := func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
			if !seen["ip:"+ip.String()] {
				seen["ip:"+ip.String()] = true
				ips = append(ips, ip)
			}
			return nil
		}
		name := strings.ToLower(strings.TrimSuffix(s, "."))
		if err := validDNS(name); err != nil {
			return fmt.Errorf("pki: invalid SAN %q: %w", s, err)
		}
		if !seen["dns:"+name] {
			seen["dns:"+name] = true
			dns = append(dns, name)
		}
		return nil
	}
	if err := add(cn); err != nil {
		return nil, nil, err
	}
	for _, entry := range sans {
		for _, s := range strings.Split(entry, ",") {
			if err := add(s); err != nil {
				return nil, nil, err
			}
		}
	}
	return dns, ips, nil
}

func validDNS(name string) error {
	if len(name) > 253 {
		return errors.New("name too long")
	}
	for i, label := range strings.Split(name, ".") {
		if label == "*" && i == 0 {
			continue
		}
		if label == "" || len(label) > 63 {
			return errors.New("empty or overlong label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("label starts or ends with '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return nil
}

func loadOrCreateCA(p Paths, lifetime time.Duration) (*x509.Certificate, crypto.Signer, error) {
	_, errC := os.Stat(p.CACert)
	_, errK := os.Stat(p.CAKey)
	switch {
	case errC == nil && errK == nil:
		return loadCA(p)
	case errC == nil || errK == nil:
		return nil, nil, fmt.Errorf("pki: found only one of %s and %s; restore or remove it", p.CACert, p.CAKey)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	now := time.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "telemesh local CA " + host, Organization: []string{"telemesh"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	if err := writeKey(p.CAKey, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(p.CACert, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func loadCA(p Paths) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(p.CACert, p.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load CA: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse %s: %w", p.CACert, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("pki: %s is not a CA certificate", p.CACert)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("pki: CA %s expired on %s", p.CACert, cert.NotAfter.Format(time.DateOnly))
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pki: %s: unsupported key type", p.CAKey)
	}
	return cert, signer, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %w", err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes atomically through a temporary file so a crash never
// leaves a truncated key behind, and enforces mode even when replacing.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms; fall back to time.
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:20]
}

// LoadServerTLS returns a server TLS configuration (TLS 1.2 minimum) serving
// the certificate and key in certFile and keyFile.
func LoadServerTLS(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// LoadCAPool returns a certificate pool holding the PEM certificates in
// caFile, for clients verifying a server signed by the local CA.
func LoadCAPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
	}
	return pool, nil
}

// Days returns a lifetime of n days.
func Days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
