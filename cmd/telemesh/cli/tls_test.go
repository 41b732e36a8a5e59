package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSInitAndShow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	out, err := run(t, "tls", "init", "--dir", dir, "--cn", "router.lab", "--san", "localhost,127.0.0.1", "--days", "30")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"ca.crt", "server.key", "--tls-cert", "--ca-file", "SANs:        router.lab, localhost, 127.0.0.1", "(29 days left)"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "server.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server.key: %v %v", st, err)
	}
	if out, err := run(t, "tls", "init", "--dir", dir, "--cn", "router.lab"); err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	if out, err := run(t, "tls", "init", "--dir", dir, "--cn", "bad host"); err == nil {
		t.Fatalf("bad CN accepted:\n%s", out)
	}
	out, err = run(t, "tls", "show", filepath.Join(dir, "ca.crt"))
	if err != nil || !strings.Contains(out, "CA:          true") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := run(t, "tls", "show"); err == nil {
		t.Fatal("show without FILE accepted")
	}
}

func TestTLSInitSisock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".crossbar")
	out, err := run(t, "tls", "init", "--sisock", "--dir", dir, "--cn", "localhost", "--san", "127.0.0.1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"server_cert.pem", "server_key.pem", "--ca-file", "SANs:        localhost, 127.0.0.1", "CA:          true"} {
		if !strings.Contains(out, want) {
			t.Errorf("init --sisock output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		t.Error("init --sisock wrote a CA key")
	}
}
