// Package testutil holds helpers shared by telemesh's tests: finding the
// external tools end-to-end tests drive (python3-autobahn, node, chromium,
// mosquitto), running them with a deadline or in the background, running
// servers until a test ends, polling for a condition, and a plain nexus
// router on loopback for tests that cannot import telemesh's own router
// (router/routertest runs that one) or mean to test against another.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	nxrouter "github.com/gammazero/nexus/v3/router"
)

// InCI reports whether the tests run in CI, where a missing external tool
// is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") != "" }

// Need returns the path of an external program, skipping the test when it
// is missing outside CI and failing it in CI.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is required in CI (.ci/run installs it): %v", name, err)
		}
		SkipMissing(t, "%s not installed: %v", name, err)
	}
	return p
}

// SkipLogEnv names the file SkipMissing appends a line to for each test
// it skips, so that `make test` can say which suites did not run.
const SkipLogEnv = "TELEMESH_SKIPLOG"

// SkipMissing skips a test whose external tool is missing, noting it in
// the file $TELEMESH_SKIPLOG names, if any.
func SkipMissing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if path := os.Getenv(SkipLogEnv); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			wd, _ := os.Getwd()
			fmt.Fprintf(f, "%s/%s %s: %s\n", filepath.Base(filepath.Dir(wd)), filepath.Base(wd), t.Name(), msg)
			f.Close()
		}
	}
	t.Skip(msg)
}

// NeedPython returns the system python3 that has autobahn (Debian's
// python3-autobahn lives under /usr/bin, not in other interpreters).
func NeedPython(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import autobahn, cbor2").Run() == nil {
			return p
		}
	}
	if InCI() {
		t.Fatal("python3 with autobahn and cbor2 is required in CI (apt-get install python3-autobahn python3-cbor2)")
	}
	SkipMissing(t, "python3-autobahn not installed")
	return ""
}

// Run runs a program with a deadline and returns its combined output,
// failing the test when it exits non-zero.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// RunErr runs a program with a deadline and returns its combined output
// and error.
func RunErr(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// RepoRoot returns the repository's top folder.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NexusRouter starts a plain nexus router with one anonymous realm that
// allows caller disclosure, serving WebSocket on a loopback port, and
// returns it with its ws:// URL. It closes when the test ends. Tests use
// telemesh's router (router/routertest) instead, except where that router
// cannot be imported (wampx's own tests) or a foreign router is the point:
// nexus v3.3.0's broker can send to a leaving session's closed channel and
// panic, which telemesh's router guards against.
func NexusRouter(t testing.TB, realm string) (nxrouter.Router, string) {
	t.Helper()
	r, err := nxrouter.NewRouter(&nxrouter.Config{RealmConfigs: []*nxrouter.RealmConfig{{
		URI: "" + wampURI(realm), AnonymousAuth: true, AllowDisclose: true,
	}}}, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	ws := nxrouter.NewWebsocketServer(r)
	ws.OutQueueSize = 4096
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ws}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	return r, "ws://" + l.Addr().String() + "/ws"
}

// NeedNodeModule skips the test when the npm package module is not
// installed under dir/node_modules (failing it in CI, where `make deps`
// runs npm ci), and returns the node_modules folder's absolute path.
func NeedNodeModule(t testing.TB, dir, module string) string {
	t.Helper()
	modules, err := filepath.Abs(filepath.Join(dir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, module)); err != nil {
		if InCI() {
			t.Fatalf("%s is not installed in %s (make deps runs npm ci): %v", module, modules, err)
		}
		SkipMissing(t, "%s not installed in %s: run make deps", module, modules)
	}
	return modules
}
