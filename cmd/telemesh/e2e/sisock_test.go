package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// sisockSite is a sisock site's own files, unchanged but for ports: the
// sisock-era crossbar config with its TLS port and its plain anonymous
// port, the certificates `telemesh tls init --sisock` writes, and the
// static www folder.
type sisockSite struct {
	dir, cbdir         string
	tlsAddr, plainAddr string
	serverSecret, cert string
	routerProc         *proc
}

func newSisockSite(t *testing.T) *sisockSite {
	t.Helper()
	s := &sisockSite{dir: t.TempDir(), serverSecret: "server-secret-e2e"}
	s.cbdir = filepath.Join(s.dir, ".crossbar")
	s.tlsAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	s.plainAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	if err := os.MkdirAll(s.cbdir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := map[int]string{8080: s.tlsAddr, 8001: s.plainAddr}
	testutil.CrossbarConfig(t, filepath.Join("..", "..", "..", "crossbar-config", "examples", "sisock", ".crossbar", "config.json"),
		filepath.Join(s.cbdir, "config.json"), func(old int) int {
			_, port, _ := net.SplitHostPort(ports[old])
			n, _ := strconv.Atoi(port)
			return n
		})
	www := filepath.Join(s.dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("Sisock is running\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "tls", "init", "--sisock", "--dir", s.cbdir, "--cn", "localhost", "--san", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("tls init --sisock: %v\n%s", err, out)
	}
	s.cert = filepath.Join(s.cbdir, "server_cert.pem")
	t.Setenv("SISOCK_SERVER_SECRET", s.serverSecret)
	t.Setenv("SISOCK_SIMONSOBS_SECRET", "simonsobs-secret-e2e")
	return s
}

// router runs `telemesh router --crossbar-config` and waits for both
// transports.
func (s *sisockSite) router(t *testing.T) *proc {
	t.Helper()
	p := start(t, "router", "router", "--crossbar-config", filepath.Join(s.cbdir, "config.json"))
	for _, addr := range []string{s.tlsAddr, s.plainAddr} {
		testutil.Eventually(t, 20*time.Second, "router to listen on "+addr, func() bool {
			if !p.running() {
				t.Fatalf("router exited:\n%s", p.out.String())
			}
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	s.routerProc = p
	return p
}

// node runs a telemesh node that reaches the router as sisock's nodes do:
// wss:// with WAMP-CRA as "server", trusting server_cert.pem.
func (s *sisockSite) node(t *testing.T, name string) *proc {
	t.Helper()
	return s.nodeWith(t, name, "  - type: sim\n    interval: 200ms\n")
}

// nodeWith is node with the given drivers section.
func (s *sisockSite) nodeWith(t *testing.T, name, drivers string) *proc {
	t.Helper()
	cfg := fmt.Sprintf(`name: %s
description: telemesh node %s
profile: sisock
data_dir: %s
store:
  flush_interval: 200ms
router:
  url: wss://%s/ws
  authid: server
  authmethod: wampcra
  secret: %s
  ca_file: %s
drivers:
%s`, name, name, filepath.Join(s.dir, "data"), s.tlsAddr, s.serverSecret, s.cert, drivers)
	path := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, "node "+name, "node", "--config", path)
}

// expect reads hub lines until one starts with want, failing on a leave
// handler error.
func expect(t *testing.T, hub *testutil.Proc, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := hub.Line(t, time.Until(deadline))
		if strings.HasPrefix(l, "leave-error") {
			t.Fatalf("sisock hub's leave handler failed: %s\n%s", l, hub.Stderr())
		}
		if strings.HasPrefix(l, want) {
			return l
		}
		if strings.HasPrefix(l, "refused") {
			t.Fatalf("sisock hub refused: %s (waiting for %q)", l, want)
		}
	}
}

// TestSisockSite runs a sisock site's own config and certificates with
// telemesh's router, a hub shaped like sisock's (positional arguments
// only, on_leave with the session id alone), telemesh nodes announcing to
// it, the static page, and a sisock-era consumer on the plain anonymous
// port.
func TestSisockSite(t *testing.T) {
	py := testutil.NeedPython(t)
	s := newSisockSite(t)
	s.router(t)

	cmd := exec.Command(py, filepath.Join("testdata", "sisock_hub.py"), "wss://"+s.tlsAddr+"/ws", "test_realm", s.cert)
	cmd.Env = append(os.Environ(), "CRA_SECRET="+s.serverSecret)
	hub := testutil.StartProc(t, cmd)
	expect(t, hub, "ready")

	// A telemesh node falls back to sisock's data_node.add form.
	node := s.node(t, "sensors")
	expect(t, hub, "added sensors")
	testutil.Eventually(t, 10*time.Second, "the node to say it uses sisock's form", func() bool {
		return strings.Contains(node.out.String(), "a sisock hub")
	})

	// The static page, over TLS trusting server_cert.pem as Go clients do.
	pem, err := os.ReadFile(s.cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + s.tlsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(page) != "Sisock is running\n" {
		t.Errorf("GET / = %d %q", resp.StatusCode, page)
	}

	// A sisock-era consumer on the plain anonymous port reads the node.
	out, err := testutil.RunErr(60*time.Second, py, filepath.Join("testdata", "sisock_consumer.py"), "ws://"+s.plainAddr+"/ws", "test_realm", "org.simonsobservatory")
	if err != nil || !strings.Contains(out, `"node": "sensors"`) || !strings.Contains(out, "done") {
		t.Fatalf("consumer on the plain port: %v\n%s", err, out)
	}

	// OCS feeds on the plain port, as a data_feed_server read them, kept
	// by a wampfeed node under sisock's field names.
	s.nodeWith(t, "thermometry", fmt.Sprintf("  - type: wampfeed\n    router: {url: \"ws://%s/ws\", realm: test_realm, serializer: json}\n    agents: [LS372]\n", s.plainAddr))
	expect(t, hub, "added thermometry")
	var fields string
	testutil.Eventually(t, 30*time.Second, "the OCS feeds stored under sisock's names", func() bool {
		out, err := testutil.RunErr(30*time.Second, py, filepath.Join("..", "..", "..", "datanodes", "driver", "wampfeed", "testdata", "ocs_publisher.py"),
			"ws://"+s.plainAddr+"/ws", "test_realm", "LS372", "2")
		if err != nil {
			t.Fatalf("OCS publisher: %v\n%s", err, out)
		}
		out, err = testutil.RunErr(60*time.Second, py, filepath.Join("testdata", "sisock_consumer.py"), "ws://"+s.plainAddr+"/ws", "test_realm", "org.simonsobservatory")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, `"node": "thermometry"`) {
				fields = l
			}
		}
		return err == nil && strings.Contains(fields, `"channel_01_r"`) && strings.Contains(fields, `"scan_speed"`) && strings.Contains(fields, `"az"`)
	})
	t.Logf("thermometry: %s", fields)

	// A killed node leaves; crossbar's on_leave lets the hub drop it, and
	// the restarted node is accepted again.
	node.kill()
	expect(t, hub, "removed sensors")
	s.node(t, "sensors")
	expect(t, hub, "added sensors")
}
