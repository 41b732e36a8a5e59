package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitVerifiesForEverySAN(t *testing.T) {
	dir := t.TempDir()
	p, err := Init(dir, Options{CN: "router.lab", SANs: []string{"localhost,127.0.0.1", "::1", "daq.example.org"}, Lifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, p.CACert)
	if !ca.IsCA {
		t.Fatal("CA certificate lacks CA:true")
	}
	srv := readCert(t, p.Cert)
	if srv.IsCA {
		t.Fatal("server certificate is a CA")
	}
	if got := srv.NotAfter.Sub(srv.NotBefore); got > 49*time.Hour || got < 47*time.Hour {
		t.Fatalf("lifetime = %v, want about 48h", got)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"router.lab", "localhost", "127.0.0.1", "::1", "daq.example.org"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify %s usage %v: %v", name, usage, err)
			}
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "other.lab", Roots: roots}); err == nil {
		t.Error("verified for a name not in the SANs")
	}
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: x509.NewCertPool()}); err == nil {
		t.Error("verified without the CA")
	}
}

func TestFileModes(t *testing.T) {
	dir := t.TempDir()
	p, err := Init(dir, Options{CN: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]os.FileMode{p.CAKey: 0o600, p.Key: 0o600, p.CACert: 0o644, p.Cert: 0o644} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(f), st.Mode().Perm(), want)
		}
	}
	want := Paths{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")}
	if p != want {
		t.Errorf("paths = %+v, want %+v", p, want)
	}
}

func TestForceAndCAReuse(t *testing.T) {
	dir := t.TempDir()
	p, err := Init(dir, Options{CN: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ca1 := readCert(t, p.CACert)
	srv1 := readCert(t, p.Cert)

	if _, err := Init(dir, Options{CN: "localhost"}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Init without Force: err = %v, want ErrExists", err)
	}
	if got := readCert(t, p.Cert); !got.Equal(srv1) {
		t.Fatal("server certificate changed although Init refused")
	}

	if _, err := Init(dir, Options{CN: "localhost", SANs: []string{"10.0.0.5"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	ca2 := readCert(t, p.CACert)
	srv2 := readCert(t, p.Cert)
	if !ca1.Equal(ca2) {
		t.Fatal("CA was regenerated instead of reused")
	}
	if srv1.Equal(srv2) {
		t.Fatal("Force did not replace the server certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca1)
	if _, err := srv2.Verify(x509.VerifyOptions{DNSName: "10.0.0.5", Roots: roots}); err != nil {
		t.Fatalf("new certificate does not verify against the reused CA: %v", err)
	}

	// A second server directory can reuse the same CA by copying it in.
	dir2 := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if err := os.WriteFile(filepath.Join(dir2, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p2, err := Init(dir2, Options{CN: "other.lab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readCert(t, p2.Cert).Verify(x509.VerifyOptions{DNSName: "other.lab", Roots: roots}); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	for name, o := range map[string]Options{
		"empty":          {},
		"bad char":       {CN: "bad host"},
		"bad SAN":        {CN: "ok", SANs: []string{"ok2,under$score"}},
		"empty label":    {CN: "a..b"},
		"leading hyphen": {SANs: []string{"-x.lab"}},
		"negative":       {CN: "ok", Lifetime: -time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Init(dir, o); err == nil {
				t.Fatal("no error")
			}
			if _, err := os.Stat(filepath.Join(dir, "server.key")); err == nil {
				t.Fatal("key written despite error")
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, Options{CN: "localhost"}); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("half CA: err = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	p, err := Init(dir, Options{CN: "router.lab", SANs: []string{"127.0.0.1"}, Lifetime: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Describe(p.Cert)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject:     CN=router.lab", "Issuer:      CN=telemesh local CA", "SANs:        router.lab, 127.0.0.1", "Not before:", "(9 days left)", "CA:          false", "server auth, client auth"} {
		if !strings.Contains(s, want) {
			t.Errorf("Describe output lacks %q:\n%s", want, s)
		}
	}
	s, err = Describe(p.CACert)
	if err != nil || !strings.Contains(s, "CA:          true") {
		t.Errorf("CA description: %v\n%s", err, s)
	}
	if _, err := Describe(p.Key); err == nil {
		t.Error("Describe accepted a key file")
	}
	if _, err := Describe(filepath.Join(dir, "missing.crt")); err == nil {
		t.Error("Describe accepted a missing file")
	}
}

// TestLoadServerTLS runs a real TLS handshake between a server using the
// generated pair and a client trusting only the generated CA.
func TestLoadServerTLS(t *testing.T) {
	dir := t.TempDir()
	p, err := Init(dir, Options{CN: "localhost", SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadServerTLS(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("ok"))
	}()
	pool, err := LoadCAPool(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := LoadServerTLS(p.Cert, p.CAKey); err == nil {
		t.Error("mismatched key accepted")
	}
}
