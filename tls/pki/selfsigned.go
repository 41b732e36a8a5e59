package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"path/filepath"
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
	return issue(dir, p, o, func(_ Options, tmpl *x509.Certificate, key *ecdsa.PrivateKey) ([]byte, error) {
		// A root for OpenSSL (a CA that may sign certificates) and a
		// server certificate for everyone.
		tmpl.Issuer = tmpl.Subject
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
		tmpl.IsCA, tmpl.MaxPathLenZero = true, true
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, fmt.Errorf("pki: self-sign certificate: %w", err)
		}
		return der, nil
	})
}
