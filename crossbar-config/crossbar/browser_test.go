package crossbar

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telemesh/telemesh/internal/testutil"
)

// TestBrowserOrigins opens a WAMP page in headless Chromium from a file
// (Origin "null") and from another origin, against the sisock config's
// plain anonymous port: both join with crossbar's default origin
// behaviour, and both are refused once allowed_origins names neither.
func TestBrowserOrigins(t *testing.T) {
	nodeBin := testutil.Need(t, "node")
	chromium := testutil.Need(t, "chromium")
	modules := testutil.NeedNodeModule(t, "../../consumers/web", "playwright-core")
	t.Setenv("SISOCK_SERVER_SECRET", "server-secret")
	t.Setenv("SISOCK_SIMONSOBS_SECRET", "simonsobs-secret")
	page, err := filepath.Abs(filepath.Join("testdata", "wamp_page.html"))
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(html)
	}))
	defer other.Close()

	for _, tc := range []struct {
		name    string
		options map[string]any // the plain transport's websocket options
		want    string
	}{
		{"crossbar default", nil, "joined"},
		{"allowed_origins star", map[string]any{"allowed_origins": []string{"*"}}, "joined"},
		{"restricted", map[string]any{"allowed_origins": []string{"https://nothing.example"}, "allow_null_origin": false}, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := cbdirSisock(t)
			loopbackPorts(t, path)
			if tc.options != nil {
				setTransportOptions(t, path, 1, tc.options)
			}
			s := serveConfig(t, path)
			q := url.Values{"ws": {"ws://" + s.TransportAddrs()["workers[0].transports[1]"] + "/"}, "realm": {"test_realm"}}.Encode()
			urls := []string{"file://" + page + "?" + q, other.URL + "/page.html?" + q}
			cmd := exec.Command(nodeBin, filepath.Join("testdata", "origins.mjs"))
			cmd.Args = append(cmd.Args, urls...)
			cmd.Env = append(os.Environ(), "TELEMESH_NODE_MODULES="+modules, "TELEMESH_CHROMIUM="+chromium)
			out, err := testutil.RunCmd(cmd, 90*time.Second)
			if err != nil {
				t.Fatalf("origins.mjs: %v\n%s", err, out)
			}
			for _, u := range urls {
				if !strings.Contains(out, "RESULT "+u+" "+tc.want) {
					t.Errorf("page %s: want %q\n%s", u, tc.want, out)
				}
			}
		})
	}
}

// setTransportOptions sets the options of the i-th transport of the
// router worker in the config at path.
func setTransportOptions(t *testing.T, path string, i int, options map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	root["workers"].([]any)[0].(map[string]any)["transports"].([]any)[i].(map[string]any)["options"] = options
	if b, err = json.Marshal(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
