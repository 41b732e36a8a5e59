package crossbar

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/telemesh/telemesh/router"
	"github.com/telemesh/telemesh/tls/pki"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recorder is a slog handler keeping the messages of warnings and info
// records, to assert what Load reports.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// cbdir copies a crossbar config into a fresh .crossbar directory holding
// a TLS certificate and key (server.crt, server.key) and returns the new
// config path.
func cbdir(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".crossbar")
	if _, err := pki.Init(dir, pki.Options{CN: "localhost", SANs: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "config.json")
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestGolden converts every testdata/*.json and compares the reports and
// the resulting router configuration (or the error) with its .golden file.
func TestGolden(t *testing.T) {
	t.Setenv("CBTEST_PORT", "8443")
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			path := cbdir(t, f)
			rec := &recorder{}
			cfg, err := Load(path, slog.New(rec))
			var got bytes.Buffer
			for _, m := range rec.msgs {
				got.WriteString(m + "\n")
			}
			if err != nil {
				got.WriteString("--- error\n" + err.Error() + "\n")
			} else {
				y, err := yaml.Marshal(cfg)
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString("--- config\n")
				got.Write(y)
			}
			out := strings.ReplaceAll(got.String(), filepath.Dir(path), "CBDIR")
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, out, want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "config.json"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestEnvRef(t *testing.T) {
	for in, want := range map[string]string{"$A": "A", "${B_1}": "B_1", "$": "", "a$B": "", "${B": "", "$1A": "", "${A}x": ""} {
		got, ok := envRef(in)
		if got != want || ok != (want != "") {
			t.Errorf("envRef(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestExamples loads the shipped examples and checks what they become.
func TestExamples(t *testing.T) {
	t.Run("sisock", func(t *testing.T) {
		rec := &recorder{}
		cfg, err := Load(cbdirSisock(t), slog.New(rec))
		if err != nil {
			t.Fatal(err)
		}
		ws := cfg.Listeners.WebSocket
		if ws.Address != ":8080" || ws.Path != "/ws" || !ws.TLS.Enabled() || cfg.Listeners.RawSocket.Address != "" {
			t.Errorf("listeners = %+v", cfg.Listeners)
		}
		if len(ws.Web) != 1 || ws.Web[0].Type != router.WebStatic || ws.Web[0].Path != "/" || filepath.Base(ws.Web[0].Directory) != "www" {
			t.Errorf("web paths = %+v, want the static www folder at /", ws.Web)
		}
		if o := ws.Origins; len(o.AllowedOrigins) != 1 || o.AllowedOrigins[0] != "*" || !o.AllowNullOrigin {
			t.Errorf("origins = %+v, want crossbar's default (any, and null)", o)
		}
		// The plain anonymous port 8001 is served with its own auth only.
		if len(cfg.Transports) != 1 {
			t.Fatalf("transports = %+v, want the plain port 8001", cfg.Transports)
		}
		if tr := cfg.Transports[0]; tr.Address != ":8001" || tr.Type != router.TransportWebSocket || tr.TLS.Enabled() ||
			tr.Auth[router.AllRealms].Anonymous == nil || tr.Auth[router.AllRealms].Anonymous.Role != "server" || tr.Auth[router.AllRealms].WAMPCRA != nil {
			t.Errorf("transport = %+v", tr)
		}
		if len(cfg.Realms) != 1 || cfg.Realms[0].Name != "test_realm" || len(cfg.Realms[0].Roles) != 4 {
			t.Fatalf("realms = %+v", cfg.Realms)
		}
		a := cfg.Realms[0].Auth
		if a.Anonymous != nil {
			t.Error("anonymous access (role server) of the plain port 8001 leaked into the realm")
		}
		if a.WAMPCRA == nil || a.WAMPCRA.Users["server"] != (router.CRAUser{SecretEnv: "SISOCK_SERVER_SECRET", Role: "server"}) ||
			a.WAMPCRA.Users["simonsobs"] != (router.CRAUser{SecretEnv: "SISOCK_SIMONSOBS_SECRET", Role: "consumer"}) {
			t.Errorf("wampcra = %+v", a.WAMPCRA)
		}
		wantReports(t, rec,
			"workers[0].options.pythonpath: not supported",
			"workers[0].transports[1]: served as a further transport with its own authentication",
			"workers[1].type=container: not supported")
	})
	t.Run("ocs", func(t *testing.T) {
		rec := &recorder{}
		cfg, err := Load("../examples/ocs/.crossbar/config.json", slog.New(rec))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listeners.WebSocket.Address != ":8001" || cfg.Listeners.WebSocket.Path != "/ws" || cfg.Listeners.WebSocket.TLS.Enabled() {
			t.Errorf("listeners = %+v", cfg.Listeners)
		}
		if cfg.KeepAlive.Seconds() != 10 {
			t.Errorf("keep alive = %v, want 10s", cfg.KeepAlive)
		}
		if a := cfg.Realms[0].Auth.Anonymous; a == nil || a.Role != "iocs_agent" || a.LoopbackOnly {
			t.Errorf("anonymous = %+v", a)
		}
		if w := cfg.Listeners.WebSocket.Web; len(w) != 1 || w[0] != (router.WebPath{Path: "/call", Type: router.WebCaller, Realm: "test_realm", Role: "iocs_controller"}) {
			t.Errorf("web paths = %+v, want the HTTP caller at /call", w)
		}
	})
}

// cbdirSisock copies the sisock example and gives it the certificate
// file names it expects.
func cbdirSisock(t *testing.T) string {
	t.Helper()
	path := cbdir(t, "../examples/sisock/.crossbar/config.json")
	dir := filepath.Dir(path)
	// The site's static folder, next to .crossbar as in sisock.
	www := filepath.Join(dir, "..", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("Sisock is running\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{"server.crt": "server_cert.pem", "server.key": "server_key.pem"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func wantReports(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	all := strings.Join(rec.msgs, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no report containing %q in:\n%s", w, all)
		}
	}
}
