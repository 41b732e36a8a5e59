package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/telemesh/telemesh/internal/testutil"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

func echo(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
	return client.InvokeResult{Args: inv.Arguments}
}

func isNotAuthorized(err error) bool {
	var re client.RPCError
	if errors.As(err, &re) {
		return re.Err.Error == wamp.ErrNotAuthorized
	}
	return strings.Contains(fmtErr(err), string(wamp.ErrNotAuthorized))
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestNetworkClients runs the roles' core flows over every transport and
// serializer with nexus's Go client.
func TestNetworkClients(t *testing.T) {
	s := startServer(t, testConfig(t))
	for _, url := range []string{s.WebSocketURL(), s.RawSocketURL()} {
		for _, ser := range []string{"json", "msgpack", "cbor"} {
			t.Run(strings.SplitN(url, ":", 2)[0]+"/"+ser, func(t *testing.T) {
				node := mustDial(t, wampx.Config{URL: url, Serializer: ser, AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
				proc := testNames.GetData("node1")
				if err := node.Register(proc, echo, nil); err != nil {
					t.Fatalf("datanode registering its own procedure: %v", err)
				}
				defer node.Unregister(proc)
				if err := node.Register(testNames.GetData("other"), echo, nil); !isNotAuthorized(err) {
					t.Fatalf("datanode registering another node's procedure: got %v, want not_authorized", err)
				}
				cons := mustDial(t, wampx.Config{URL: url, Serializer: ser})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := cons.Call(ctx, proc, nil, wamp.List{"x"}, nil, nil)
				if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != "x" {
					t.Fatalf("consumer call: %v %v", res, err)
				}
				if err := cons.Register(testNames.GetData("c"), echo, nil); !isNotAuthorized(err) {
					t.Errorf("consumer register: got %v, want not_authorized", err)
				}
				err = cons.Publish(testNames.Data("node1"), wamp.Dict{wamp.OptAcknowledge: true}, nil, nil)
				if !isNotAuthorized(err) {
					t.Errorf("consumer publish: got %v, want not_authorized", err)
				}
				_, err = cons.Call(ctx, testNames.DataNodeAdd(), nil, nil, nil, nil)
				if !isNotAuthorized(err) {
					t.Errorf("consumer calling data_node.add: got %v, want not_authorized", err)
				}
			})
		}
	}
}

// TestAuthentication checks every method with right and wrong secrets.
func TestAuthentication(t *testing.T) {
	s := startServer(t, testConfig(t))
	url := s.WebSocketURL()
	tests := []struct {
		name     string
		cfg      wampx.Config
		wantRole string // "" = refused
	}{
		{"anonymous", wampx.Config{}, protocol.RoleConsumer},
		{"ticket", wampx.Config{AuthID: "hub", AuthMethod: "ticket", Secret: hubTicket}, protocol.RoleHub},
		{"ticket wrong", wampx.Config{AuthID: "hub", AuthMethod: "ticket", Secret: "nope"}, ""},
		{"ticket unknown authid", wampx.Config{AuthID: "who", AuthMethod: "ticket", Secret: hubTicket}, ""},
		{"wampcra", wampx.Config{AuthID: "node2", AuthMethod: "wampcra", Secret: craSecret}, protocol.RoleDataNode},
		{"wampcra wrong", wampx.Config{AuthID: "node2", AuthMethod: "wampcra", Secret: "nope"}, ""},
		{"wampcra salted", wampx.Config{AuthID: "salted", AuthMethod: "wampcra", Secret: craPassword}, protocol.RoleDataNode},
		{"wampcra salted wrong", wampx.Config{AuthID: "salted", AuthMethod: "wampcra", Secret: "nope"}, ""},
		{"cryptosign", wampx.Config{AuthID: "node3", AuthMethod: "cryptosign", Secret: seedHex}, protocol.RoleDataNode},
		{"cryptosign wrong key", wampx.Config{AuthID: "node3", AuthMethod: "cryptosign", Secret: strings.Repeat("11", 32)}, ""},
		{"local method from network", wampx.Config{AuthID: "x", AuthMethod: "ticket", Secret: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.URL = url
			tt.cfg.Timeout = 3 * time.Second
			c, err := dial(t, tt.cfg)
			if tt.wantRole == "" {
				if err == nil {
					t.Fatal("connected, want refusal")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := wamp.AsString(c.RealmDetails()["authrole"]); got != tt.wantRole {
				t.Errorf("authrole %q, want %q", got, tt.wantRole)
			}
		})
	}
}

// TestLocalDialerAndDisclosure checks that in-process sessions get their
// role, are authorized, and that the hub sees who called data_node.add.
func TestLocalDialerAndDisclosure(t *testing.T) {
	s := startServer(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hub, err := s.LocalDialer("hub", protocol.RoleHub)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	callers := make(chan wamp.Dict, 1)
	err = hub.Register(testNames.DataNodeAdd(), func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		callers <- inv.Details
		return client.InvokeResult{}
	}, wamp.Dict{wamp.OptDiscloseCaller: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Register(testNames.GetData("x"), echo, nil); !isNotAuthorized(err) {
		t.Errorf("local hub registering a node procedure: got %v, want not_authorized", err)
	}
	node := mustDial(t, wampx.Config{URL: s.RawSocketURL(), AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	if _, err := node.Call(ctx, testNames.DataNodeAdd(), nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	d := <-callers
	if id, _ := wamp.AsString(d["caller_authid"]); id != "node1" {
		t.Errorf("caller_authid %v, want node1 (details %v)", d["caller_authid"], d)
	}
	if _, ok := wamp.AsID(d["caller"]); !ok {
		t.Errorf("no caller in %v", d)
	}
	if _, err := s.LocalDialer("x", "nosuchrole")(ctx); err == nil {
		t.Error("local session with an unknown role joined")
	}
	// The hub may use the meta API.
	if _, err := hub.Call(ctx, string(wamp.MetaProcSessionList), nil, nil, nil, nil); err != nil {
		t.Errorf("hub calling wamp.session.list: %v", err)
	}
}

// TestHTTPEndpoints checks /healthz, /metrics and extra handlers.
func TestHTTPEndpoints(t *testing.T) {
	s, err := New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/hello", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	base := "http://" + s.Addrs().WebSocket
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if got := get("/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	if got := get("/hello"); got != "hi" {
		t.Errorf("/hello = %q", got)
	}
	cons := mustDial(t, wampx.Config{URL: s.WebSocketURL()})
	cons.Register(testNames.GetData("c"), echo, nil)
	var m string
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = get("/metrics")
		if strings.Contains(m, `telemesh_router_sessions{realm="telemesh",role="consumer"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`telemesh_router_sessions{realm="telemesh",role="consumer"} 1`,
		`telemesh_router_authorization_denied_total{action="register",realm="telemesh",role="consumer"} 1`,
		`telemesh_router_dropped_messages_total 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case <-cons.Done():
	case <-time.After(5 * time.Second):
		t.Error("client still connected after shutdown")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("listener still open after shutdown")
	}
}

// TestMaxMessageSize checks that an oversized message ends the session:
// a WebSocket client sending one is disconnected, and the RawSocket
// listener closes a connection announcing a frame over the limit (nexus's
// RawSocket client will not even send one past the negotiated limit).
func TestMaxMessageSize(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxMessageSize = 64 << 10
	s := startServer(t, cfg)
	node := mustDial(t, wampx.Config{URL: s.WebSocketURL(), AuthID: "node1", AuthMethod: "ticket", Secret: nodeTicket})
	big := strings.Repeat("x", 128<<10)
	node.Publish(testNames.Data("node1"), nil, wamp.List{big}, nil)
	select {
	case <-node.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("websocket session survived a %d-byte message", len(big))
	}

	conn, err := net.DialTimeout("tcp", s.Addrs().RawSocket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Handshake: magic, 16 MiB receive limit and JSON; then a frame header
	// announcing 128 KiB.
	if _, err := conn.Write([]byte{0x7f, 0xf1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 4)
	if _, err := io.ReadFull(conn, reply); err != nil || reply[0] != 0x7f {
		t.Fatalf("rawsocket handshake reply %x: %v", reply, err)
	}
	conn.Write([]byte{0, 0x02, 0, 0})
	conn.Write([]byte(big))
	// The router answers with an ABORT, then closes.
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("rawsocket connection still open after an oversized frame (read %q)", got)
	}
	if !strings.Contains(string(got), string(errPayloadSize)) {
		t.Errorf("no ABORT %s before the close: %q", errPayloadSize, got)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5": true, "127.8.9.1:1": true, "[::1]:80": true,
		"10.0.0.1:5": false, "[2001:db8::1]:1": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
	a := &anonymousAuth{role: "consumer", loopbackOnly: true}
	if _, err := a.Authenticate(1, wamp.Dict{"transport": wamp.Dict{"peer": "192.0.2.1:4000"}}, nil); err == nil {
		t.Error("anonymous from a remote address admitted")
	}
	if _, err := a.Authenticate(1, wamp.Dict{"transport": wamp.Dict{"peer": "127.0.0.1:4000"}}, nil); err != nil {
		t.Errorf("anonymous from loopback: %v", err)
	}
}

// TestKeepAliveDropsHungPeer checks that a WebSocket peer that stops
// answering pings is disconnected.
func TestKeepAliveDropsHungPeer(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeepAlive = 100 * time.Millisecond
	s := startServer(t, cfg)
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial(s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`[1,"telemesh",{"roles":{"subscriber":{}}}]`)); err != nil {
		t.Fatal(err)
	}
	conn.SetPingHandler(func(string) error { return nil }) // hung: never pongs
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), "[2,") {
		t.Fatalf("no WELCOME: %s %v", msg, err)
	}
	start := time.Now()
	for {
		if _, _, err = conn.ReadMessage(); err != nil {
			break
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("still connected %v after the last pong", time.Since(start))
	}
}

// TestHTTPTimeouts checks that an idle keep-alive connection and a
// request whose body stalls are closed, while a WebSocket session lives
// on past both timeouts.
func TestHTTPTimeouts(t *testing.T) {
	s, err := New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.httpRead, s.httpIdle = 300*time.Millisecond, 300*time.Millisecond
	testutil.Serve(t, s.Run, s.Ready())
	closedWithin := func(name, req string) {
		t.Helper()
		conn, err := net.Dial("tcp", s.Addrs().WebSocket)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte(req))
		_, err = io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: connection still open after 10 s", name)
		}
	}
	closedWithin("idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	closedWithin("stalled body", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
	closedWithin("stalled headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n")

	cons := mustDial(t, wampx.Config{URL: s.WebSocketURL()})
	time.Sleep(time.Second) // past both timeouts: the session must not notice them
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cons.Call(ctx, string(wamp.MetaProcSessionCount), nil, nil, nil, nil); err != nil && !isNotAuthorized(err) {
		t.Errorf("websocket session after the HTTP timeouts: %v", err)
	}
	select {
	case <-cons.Done():
		t.Error("websocket session closed by an HTTP timeout")
	default:
	}
}
