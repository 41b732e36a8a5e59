package router

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
)

// TestHostileFrames sends what broken and hostile peers send, one
// connection per case, and checks that each costs only its connection:
// the router closes it (with an ABORT where one is due) and keeps serving
// a canary client.
func TestHostileFrames(t *testing.T) {
	s := startServer(t, testConfig(t))
	can := newCanary(t, s)
	deep := strings.Repeat("[", 60000) // under the pre-auth limit
	pse := string(errPayloadSize)
	tests := []struct {
		name   string
		ws     bool   // WebSocket (wamp.2.json) rather than RawSocket
		joined bool   // join before the hostile frame
		typ    byte   // frame type (RawSocket) or message type (WebSocket)
		body   string // frame payload
		abort  string // the ABORT reason due before the close ("" = none)
	}{
		{name: "rawsocket frame type 3 before HELLO", typ: 3},
		{name: "rawsocket frame type 4 before HELLO", typ: 4},
		{name: "rawsocket frame type 5 before HELLO", typ: 5},
		{name: "rawsocket frame type 6 before HELLO", typ: 6},
		{name: "rawsocket frame type 7 before HELLO", typ: 7, body: "xyz"},
		{name: "rawsocket frame type 3 after join", joined: true, typ: 3},
		{name: "rawsocket frame type 7 after join", joined: true, typ: 7},
		{name: "rawsocket frame type 0xff after join", joined: true, typ: 0xff},
		{name: "rawsocket garbage", body: "\x00\xffnot a message", abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket empty list", body: "[]", abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket unknown message type", body: `[99,1,{}]`, abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket WELCOME from a client", body: `[2,1,{}]`, abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket EVENT from a joined client", joined: true, body: `[36,1,2,{}]`, abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket deep nesting", body: deep, abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket deep nesting joined", joined: true, body: `[48,1,{},"p",` + deep + deep, abort: string(wamp.ErrProtocolViolation)},
		{name: "rawsocket HELLO over the pre-auth limit", body: `[1,"telemesh",{"x":"` + strings.Repeat("x", 70<<10) + `"}]`, abort: pse},
		{name: "rawsocket message over the limit", joined: true, body: `[16,1,{},"t",["` + strings.Repeat("x", 1<<20) + `"]]`, abort: pse},
		{name: "websocket binary on json", ws: true, typ: websocket.BinaryMessage, body: helloJSON},
		{name: "websocket garbage", ws: true, typ: websocket.TextMessage, body: "{{{", abort: string(wamp.ErrProtocolViolation)},
		{name: "websocket deep nesting", ws: true, typ: websocket.TextMessage, body: deep, abort: string(wamp.ErrProtocolViolation)},
		{name: "websocket HELLO over the pre-auth limit", ws: true, typ: websocket.TextMessage, body: `[1,"telemesh",{"x":"` + strings.Repeat("x", 70<<10) + `"}]`, abort: pse},
		{name: "websocket message over the limit", ws: true, joined: true, typ: websocket.TextMessage, body: `[16,1,{},"t",["` + strings.Repeat("x", 1<<20) + `"]]`, abort: pse},
		{name: "websocket WELCOME from a client", ws: true, typ: websocket.TextMessage, body: `[2,1,{}]`, abort: string(wamp.ErrProtocolViolation)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *rawPeer
			if tt.ws {
				p = rawWS(t, s, "wamp.2.json")
			} else {
				p = rawRS(t, s, 0xf)
			}
			if tt.joined {
				p.join()
			}
			p.frame(tt.typ, []byte(tt.body))
			last := p.closed()
			if tt.abort != "" && errorURI(last) != tt.abort {
				t.Errorf("last message before the close %v, want ABORT %s", last, tt.abort)
			}
			can.check(t, tt.name)
		})
	}
}

// TestHostileHandshakes covers RawSocket handshakes that are not one,
// including the eight bytes that used to stop the whole router (a
// handshake followed by a frame of reserved type 3).
func TestHostileHandshakes(t *testing.T) {
	s := startServer(t, testConfig(t))
	can := newCanary(t, s)
	tests := []struct {
		name  string
		bytes string
		reply string // the handshake reply due ("" = none)
	}{
		{"reserved frame type right after the handshake", "\x7f\xf1\x00\x00\x03\x00\x00\x00", "\x7f"},
		{"not rawsocket", "GET / HTTP/1.1\r\n\r\n", ""},
		{"reserved handshake bits", "\x7f\xf1\x01\x00", "\x7f\x30\x00\x00"},
		{"unknown serializer", "\x7f\xf9\x00\x00", "\x7f\x10\x00\x00"},
		{"serializer 0", "\x7f\xf0\x00\x00", ""},
		{"huge length prefix before HELLO", "\x7f\xf1\x00\x00\x00\xff\xff\xff", "\x7f"},
		{"half a handshake", "\x7f", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := rawTCP(t, s)
			conn.Write([]byte(tt.bytes))
			if len(tt.bytes) == 1 {
				conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			got, err := io.ReadAll(conn)
			if err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("connection not closed: %v", err)
			}
			if !bytes.HasPrefix(got, []byte(tt.reply)) {
				t.Errorf("reply %q, want prefix %q", got, tt.reply)
			}
			can.check(t, tt.name)
		})
	}
}

// TestSlowPeers covers peers that announce a frame and never finish it:
// before HELLO the HELLO timeout closes them, after joining the silence
// bound does; the canary is served meanwhile.
func TestSlowPeers(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeepAlive = 500 * time.Millisecond
	s := startServer(t, cfg)
	can := newCanary(t, s)
	for _, joined := range []bool{false, true} {
		p := rawRS(t, s, 0xf)
		if joined {
			p.join()
		}
		start := time.Now()
		p.rs.Write([]byte{0, 0, 0xf0, 0, '['}) // 61440 bytes announced, one sent
		p.closed()
		t.Logf("joined %v: a half-sent frame was closed after %v", joined, time.Since(start).Round(time.Millisecond))
		can.check(t, "half-sent frame")
	}
}
