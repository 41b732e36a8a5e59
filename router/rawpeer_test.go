package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/telemesh/telemesh/wampx"
)

// rawPeer is a hand-driven WAMP client speaking JSON over RawSocket or
// WebSocket, for sending what no real client would.
type rawPeer struct {
	t  testing.TB
	rs net.Conn
	ws *websocket.Conn
}

// rawRS connects to the RawSocket listener and shakes hands for JSON,
// announcing a receive limit of 2^(9+exp) bytes.
func rawRS(t testing.TB, s *Server, exp byte) *rawPeer { return rawRSWith(t, s, exp, 1) }

// rawRSWith is rawRS with a RawSocket serializer number (1 JSON, 2
// msgpack, 3 CBOR); recv only decodes JSON.
func rawRSWith(t testing.TB, s *Server, exp, ser byte) *rawPeer {
	t.Helper()
	conn := rawTCP(t, s)
	if _, err := conn.Write([]byte{0x7f, exp<<4 | ser, 0, 0}); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 4)
	if _, err := io.ReadFull(conn, reply); err != nil || reply[0] != 0x7f || reply[1]&0xf != ser {
		t.Fatalf("rawsocket handshake reply %x: %v", reply, err)
	}
	return &rawPeer{t: t, rs: conn}
}

// rawTCP is a plain TCP connection to the RawSocket listener.
func rawTCP(t testing.TB, s *Server) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addrs().RawSocket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// rawWS connects to the WebSocket listener with a subprotocol.
func rawWS(t testing.TB, s *Server, subprotocol string) *rawPeer {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial(s.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return &rawPeer{t: t, ws: conn}
}

// frame sends one frame: a RawSocket frame of type typ, or a WebSocket
// message of type typ (websocket.TextMessage, ...).
func (p *rawPeer) frame(typ byte, b []byte) error {
	if p.ws != nil {
		return p.ws.WriteMessage(int(typ), b)
	}
	_, err := p.rs.Write(append([]byte{typ, byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...))
	return err
}

// send sends one JSON message.
func (p *rawPeer) send(msg string) {
	p.t.Helper()
	typ := byte(0)
	if p.ws != nil {
		typ = websocket.TextMessage
	}
	if err := p.frame(typ, []byte(msg)); err != nil {
		p.t.Fatalf("sending %.80s: %v", msg, err)
	}
}

// recv returns the next WAMP message as a list, or an error once the
// connection is closed.
func (p *rawPeer) recv() ([]any, error) {
	for {
		var b []byte
		if p.ws != nil {
			_, m, err := p.ws.ReadMessage()
			if err != nil {
				return nil, err
			}
			b = m
		} else {
			var h [4]byte
			if _, err := io.ReadFull(p.rs, h[:]); err != nil {
				return nil, err
			}
			b = make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
			if _, err := io.ReadFull(p.rs, b); err != nil {
				return nil, err
			}
			if h[0] == 1 { // PING: answer
				p.rs.Write(append([]byte{2, h[1], h[2], h[3]}, b...))
				continue
			}
			if h[0] != 0 {
				continue
			}
		}
		var v []any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("undecodable %q: %w", b, err)
		}
		return v, nil
	}
}

// expect returns the next message, which must be of type typ.
func (p *rawPeer) expect(typ wamp.MessageType) []any {
	p.t.Helper()
	v, err := p.recv()
	if err != nil {
		p.t.Fatalf("want %v: %v", typ, err)
	}
	if len(v) == 0 || v[0] != float64(typ) {
		p.t.Fatalf("got %v, want %v", v, typ)
	}
	return v
}

// closed waits for the router to close the connection, skipping messages,
// and returns the last message received before the close.
func (p *rawPeer) closed() []any {
	p.t.Helper()
	var last []any
	for {
		v, err := p.recv()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatalf("connection still open (last message %v)", last)
			}
			return last
		}
		last = v
	}
}

// join sends HELLO as an anonymous client and waits for WELCOME.
func (p *rawPeer) join() []any {
	p.t.Helper()
	p.send(helloJSON)
	return p.expect(wamp.WELCOME)
}

// login joins as a ticket principal.
func (p *rawPeer) login(authid, ticket string) []any {
	p.t.Helper()
	p.send(fmt.Sprintf(`[1,"telemesh",{"roles":{"caller":{},"callee":{},"publisher":{},"subscriber":{}},"authmethods":["ticket"],"authid":%q}]`, authid))
	p.expect(wamp.CHALLENGE)
	p.send(fmt.Sprintf(`[5,%q,{}]`, ticket))
	return p.expect(wamp.WELCOME)
}

const helloJSON = `[1,"telemesh",{"roles":{"caller":{},"callee":{},"publisher":{},"subscriber":{}}}]`

// canary is a consumer calling an echo procedure: the router serves it
// after every hostile case.
type canary struct {
	c    *client.Client
	proc string
}

func newCanary(t testing.TB, s *Server) *canary {
	t.Helper()
	proc := echoProcedure(t, s)
	return &canary{c: mustDial(t, wampx.Config{URL: s.RawSocketURL()}), proc: proc}
}

// check fails the test unless the router still answers the canary.
func (c *canary) check(t testing.TB, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.c.Call(ctx, c.proc, nil, wamp.List{what}, nil, nil)
	if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != what {
		t.Fatalf("after %s the router no longer serves the canary: %v %v", what, res, err)
	}
}

// errorURI returns the error URI of an ERROR or ABORT message list.
func errorURI(v []any) string {
	switch {
	case len(v) >= 5 && v[0] == float64(wamp.ERROR):
		s, _ := v[4].(string)
		return s
	case len(v) >= 3 && v[0] == float64(wamp.ABORT):
		s, _ := v[2].(string)
		return s
	}
	return ""
}

func mustContain(t testing.TB, what, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Errorf("%s: %q lacks %q", what, s, want)
	}
}

// metricsText returns the router's /metrics page.
func metricsText(t testing.TB, s *Server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.Addrs().WebSocket + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
