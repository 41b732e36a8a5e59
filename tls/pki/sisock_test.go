package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trustCheck is how sisock's clients trust the router: server_cert.pem
// loaded as the only root, no host name check.
const trustCheck = `
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cafile=sys.argv[1])
host, port = sys.argv[2].rsplit(":", 1)
try:
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            print("ok")
except ssl.SSLError as e:
    print("refused", e)
`

// serveTLS accepts TLS connections with cert and key until the test ends.
func serveTLS(t *testing.T, cert, key string) string {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required in CI")
		}
		t.Skip("python3 not installed")
	}
	return p
}

// TestInitSisockServesBothClients: sisock's clients (OpenSSL, the file as
// its own root) and Go's (SANs required) both accept InitSisock's
// certificate, where the CA-signed server.crt copied to server_cert.pem
// breaks sisock's clients.
func TestInitSisockServesBothClients(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	p, err := InitSisock(dir, Options{CN: "localhost", SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cert != filepath.Join(dir, "server_cert.pem") || p.Key != filepath.Join(dir, "server_key.pem") {
		t.Errorf("paths = %+v", p)
	}
	if st, err := os.Stat(p.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v %v, want 0600", st.Mode(), err)
	}
	addr := serveTLS(t, p.Cert, p.Key)
	out, err := exec.Command(py, "-c", trustCheck, p.Cert, addr).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("sisock-style client: %v %s", err, out)
	}
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, p.Cert))
	for _, host := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Errorf("Go client for %s: %v", host, err)
			continue
		}
		c.Close()
	}
	if _, err := InitSisock(dir, Options{CN: "localhost"}); err == nil {
		t.Error("existing files replaced without Force")
	}

	// The failure this recipe fixes: a CA-signed server.crt as the only
	// root is refused by sisock's clients.
	q, err := Init(t.TempDir(), Options{CN: "localhost", SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(py, "-c", trustCheck, q.Cert, serveTLS(t, q.Cert, q.Key)).CombinedOutput()
	if !strings.HasPrefix(string(out), "refused") {
		t.Errorf("CA-signed server.crt as the only root: %s, want refused", out)
	}
}
