package router

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// TestOnLeaveCrossbarShape: wamp.session.on_leave carries the session id
// alone, as crossbar publishes it (sisock's hub takes exactly one
// argument), and on_join the session details with session, authid and
// authrole.
func TestOnLeaveCrossbarShape(t *testing.T) {
	s := startServer(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch, err := s.dial(ctx, testNames.Realm, "watcher", trustedRole)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	joins, leaves := make(chan *wamp.Event, 4), make(chan *wamp.Event, 4)
	if err := watch.Subscribe(string(wamp.MetaEventSessionOnJoin), func(e *wamp.Event) { joins <- e }, nil); err != nil {
		t.Fatal(err)
	}
	if err := watch.Subscribe(string(wamp.MetaEventSessionOnLeave), func(e *wamp.Event) { leaves <- e }, nil); err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, wampx.Config{URL: s.WebSocketURL(), AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	id := c.ID()
	// Events of other sessions (the watcher's own join may race its
	// subscription) are skipped.
	for seen := false; !seen; {
		select {
		case e := <-joins:
			d, ok := wamp.AsDict(e.Arguments[0])
			if len(e.Arguments) != 1 || !ok {
				t.Fatalf("on_join args = %v, want one details dict", e.Arguments)
			}
			if sid, _ := wamp.AsID(d["session"]); sid != id {
				continue
			}
			seen = true
			if d["authid"] != "node1" || d["authrole"] != protocol.RoleDataNode {
				t.Errorf("on_join details = %v", d)
			}
		case <-ctx.Done():
			t.Fatal("no on_join")
		}
	}
	c.Close()
	for seen := false; !seen; {
		select {
		case e := <-leaves:
			if len(e.Arguments) != 1 {
				t.Fatalf("on_leave args = %v, want the session id alone", e.Arguments)
			}
			sid, _ := wamp.AsID(e.Arguments[0])
			seen = sid == id
		case <-ctx.Done():
			t.Fatal("no on_leave")
		}
	}
}

// handshake tries a WebSocket handshake with the given Host and Origin and
// returns the HTTP status.
func handshake(t *testing.T, url, host, origin string) int {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	if host != "" {
		h.Set("Host", host)
	}
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, h)
	if conn != nil {
		conn.Close()
	}
	if resp == nil {
		t.Fatalf("handshake: %v", err)
	}
	return resp.StatusCode
}

// TestOriginPolicy: the default admits same-origin pages only when the
// Host is a name of the listener (no DNS rebinding), allowed_origins and
// allow_null_origin work as crossbar's.
func TestOriginPolicy(t *testing.T) {
	cases := []struct {
		name         string
		policy       OriginPolicy
		host, origin string
		wantOK       bool
	}{
		{"no origin", OriginPolicy{}, "", "", true},
		{"same origin by address", OriginPolicy{}, "", "http://HOSTPORT", true},
		{"same origin localhost", OriginPolicy{}, "localhost:1", "http://localhost:1", true},
		{"rebinding: Host evil, Origin evil", OriginPolicy{}, "evil.example:80", "http://evil.example:80", false},
		{"configured name", OriginPolicy{Hosts: []string{"telemesh.example.org"}}, "telemesh.example.org", "https://telemesh.example.org", true},
		{"other origin refused", OriginPolicy{}, "", "http://other.example", false},
		{"null refused by default", OriginPolicy{}, "", "null", false},
		{"null allowed", OriginPolicy{AllowNullOrigin: true}, "", "null", true},
		{"star", OriginPolicy{AllowedOrigins: []string{"*"}}, "", "http://other.example", true},
		{"pattern", OriginPolicy{AllowedOrigins: []string{"https://*.example.org"}}, "", "https://www.example.org", true},
		{"pattern miss", OriginPolicy{AllowedOrigins: []string{"https://*.example.org"}}, "", "http://www.example.org", false},
		{"star does not admit null", OriginPolicy{AllowedOrigins: []string{"*"}}, "", "null", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Listeners.WebSocket.Origins = tc.policy
			s := startServer(t, cfg)
			origin := strings.ReplaceAll(tc.origin, "HOSTPORT", s.Addrs().WebSocket)
			code := handshake(t, s.WebSocketURL(), tc.host, origin)
			if ok := code == http.StatusSwitchingProtocols; ok != tc.wantOK {
				t.Errorf("Host %q Origin %q: status %d, want admitted=%v", tc.host, origin, code, tc.wantOK)
			}
		})
	}
}

// TestWebPathsAndBridge serves a static folder and crossbar's HTTP caller
// and publisher bridge, each authorized as its role.
func TestWebPathsAndBridge(t *testing.T) {
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("Sisock is running\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Listeners.WebSocket.Web = []WebPath{
		{Path: "/", Type: WebStatic, Directory: www},
		{Path: "/call", Type: WebCaller, Role: protocol.RoleConsumer},
		{Path: "/publish", Type: WebPublisher, Role: protocol.RoleHub},
	}
	s := startServer(t, cfg)
	base := "http://" + s.Addrs().WebSocket
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "Sisock is running\n" {
		t.Errorf("GET / = %d %q", resp.StatusCode, b)
	}

	node := mustDial(t, wampx.Config{URL: s.WebSocketURL(), AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	proc := testNames.GetData("node1")
	if err := node.Register(proc, func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		if len(inv.Arguments) > 0 && inv.Arguments[0] == "fail" {
			return client.InvokeResult{Err: "com.example.error.failed", Args: wamp.List{"asked to"}}
		}
		return client.InvokeResult{Args: inv.Arguments, Kwargs: inv.ArgumentsKw}
	}, nil); err != nil {
		t.Fatal(err)
	}
	events := make(chan *wamp.Event, 1)
	cons := mustDial(t, wampx.Config{URL: s.WebSocketURL()})
	topic := testNames.DataNodeAdded()
	if err := cons.Subscribe(topic, func(e *wamp.Event) { events <- e }, nil); err != nil {
		t.Fatal(err)
	}

	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("/call", `{"procedure": "`+proc+`", "args": [1, "a"], "kwargs": {"k": 2}}`)
	if code != 200 || len(out["args"].([]any)) != 2 || out["kwargs"].(map[string]any)["k"] != 2.0 {
		t.Errorf("call = %d %v", code, out)
	}
	code, out = post("/call", `{"procedure": "`+proc+`", "args": ["fail"]}`)
	if code != 200 || out["error"] != "com.example.error.failed" {
		t.Errorf("failing call = %d %v", code, out)
	}
	code, out = post("/call", `{"procedure": "`+testNames.DataNodeAdd()+`"}`)
	if code != 200 || out["error"] != string(wamp.ErrNotAuthorized) {
		t.Errorf("call outside the role = %d %v", code, out)
	}
	if code, _ = post("/call", `{"args": []}`); code != 400 {
		t.Errorf("call without procedure = %d, want 400", code)
	}
	if code, _ = post("/call", `{"procedure": "`+proc+`", "args": ["`+strings.Repeat("x", cfg.MaxMessageSize)+`"]}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body = %d, want 413", code)
	}
	if resp, err := http.Post(base+"/call", "text/plain", strings.NewReader(`{"procedure": "`+proc+`"}`)); err != nil || resp.StatusCode != 400 {
		t.Errorf("text/plain body = %v %v, want 400", resp.StatusCode, err)
	}
	if resp, err := http.Get(base + "/call"); err != nil || resp.StatusCode != 405 {
		t.Errorf("GET /call = %v %v, want 405", resp.StatusCode, err)
	}
	code, out = post("/publish", `{"topic": "`+topic+`", "args": [42]}`)
	if code != 200 || out["id"] == nil {
		t.Errorf("publish = %d %v", code, out)
	}
	select {
	case e := <-events:
		if len(e.Arguments) != 1 || e.Arguments[0] != uint64(42) && e.Arguments[0] != 42.0 && e.Arguments[0] != int64(42) {
			t.Errorf("event args %v", e.Arguments)
		}
	case <-time.After(5 * time.Second):
		t.Error("published event not delivered")
	}
	code, out = post("/publish", `{"topic": "`+testNames.NodePrefix("other")+`live", "args": [1]}`)
	if code != 200 || out["error"] != string(wamp.ErrNotAuthorized) {
		t.Errorf("publish outside the role = %d %v", code, out)
	}
	// A rebinding page cannot use the bridge.
	req, _ := http.NewRequest(http.MethodPost, base+"/call", strings.NewReader(`{"procedure": "`+proc+`"}`))
	req.Host, req.Header = "evil.example", http.Header{"Origin": {"http://evil.example"}, "Content-Type": {"application/json"}}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("rebinding POST = %v %v, want 403", resp.StatusCode, err)
	}
}

// TestTransportAuth: a further transport authenticates with its own auth
// section only: anonymous there, refused on the main listeners.
func TestTransportAuth(t *testing.T) {
	cfg := testConfig(t)
	cfg.Realms[0].Auth.Anonymous = nil
	cfg.Transports = []Transport{
		{Name: "plain", Type: TransportWebSocket, Address: "127.0.0.1:0", Auth: map[string]AuthConfig{AllRealms: {Anonymous: &AnonymousAuth{Role: protocol.RoleAdmin}}}},
		{Name: "raw", Type: TransportRawSocket, Address: "127.0.0.1:0", Auth: map[string]AuthConfig{testNames.Realm: {Anonymous: &AnonymousAuth{Role: protocol.RoleConsumer}}}},
	}
	s := startServer(t, cfg)
	addrs := s.TransportAddrs()
	if _, err := dial(t, wampx.Config{URL: s.WebSocketURL()}); err == nil {
		t.Error("anonymous admitted on the main listener")
	}
	c := mustDial(t, wampx.Config{URL: "ws://" + addrs["plain"] + "/ws"})
	if role := c.RealmDetails()["authrole"]; role != protocol.RoleAdmin {
		t.Errorf("plain transport role %v, want admin", role)
	}
	c = mustDial(t, wampx.Config{URL: "tcp://" + addrs["raw"] + "/"})
	if role := c.RealmDetails()["authrole"]; role != protocol.RoleConsumer {
		t.Errorf("raw transport role %v, want consumer", role)
	}
	if _, err := dial(t, wampx.Config{URL: "ws://" + addrs["plain"] + "/ws", AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket}); err == nil {
		t.Error("ticket admitted on a transport without ticket auth")
	}
	mustDial(t, wampx.Config{URL: s.WebSocketURL(), AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
}
