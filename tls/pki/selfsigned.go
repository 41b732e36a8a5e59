package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"time"
)

// File names of sisock's TLS recipe, in a site's .crossbar folder.
const (
	SisockCertFile = "server_cert.pem"
	SisockKeyFile  = "server_key.pem"
)

// InitSisock writes, in dir, sisock's server_cert.pem and server_key.pem:
// one self-signed certificate that is its own root, as sisock's clients
// expect (they load server_cert.pem as their only trust root), and that
// carries the names clients dial as SANs, as telemesh's Go clients require
// (Go ignores a certificate's Common Name). Every client then trusts the
// same file: sisock's unchanged, telemesh's with --ca-file server_cert.pem.
// The returned Paths has CACert = Cert and no CAKey.
func InitSisock(dir string, o Options) (Paths, error) {
	p := Paths{Cert: filepath.Join(dir, SisockCertFile), Key: filepath.Join(dir, SisockKeyFile)}
	p.CACert = p.Cert
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
	name := pkix.Name{CommonName: cn, Organization: []string{"telemesh"}}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      name,
		Issuer:       name,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(o.Lifetime),
		// A root for OpenSSL (CA, may sign certificates) and a server
		// certificate for everyone.
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		DNSNames:              dns,
		IPAddresses:           ips,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return p, fmt.Errorf("pki: self-sign certificate: %w", err)
	}
	if err := writeKey(p.Key, key); err != nil {
		return p, err
	}
	if err := writePEM(p.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return p, err
	}
	return p, nil
}
