package router

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
)

// fuzzRouter is one live router per fuzzing process, with its canary.
var fuzzRouter struct {
	once sync.Once
	s    *Server
	can  *canary
}

// liveRouter starts the shared router of the fuzz targets. It runs until
// the process ends: fuzz workers run many inputs in one process.
func liveRouter(f *testing.F) (*Server, *canary) {
	fuzzRouter.once.Do(func() {
		s, err := New(testConfig(f), nil)
		if err != nil {
			f.Fatal(err)
		}
		go s.Run(context.Background())
		<-s.Ready()
		fuzzRouter.s = s
		fuzzRouter.can = newCanary(&noCleanup{f}, s)
	})
	return fuzzRouter.s, fuzzRouter.can
}

// noCleanup keeps the shared canary's sessions open past the first
// target's end.
type noCleanup struct{ *testing.F }

func (noCleanup) Cleanup(func()) {}

// Stages of a connection at which fuzzed bytes are sent.
const (
	stageRaw       = iota // the bytes are the whole connection, handshake included
	stageHandshake        // after a valid handshake
	stageJoined           // after HELLO and WELCOME
	stages
)

// FuzzRawSocketFrames sends fuzzed bytes to a live router's RawSocket
// listener at a fuzzed stage of a connection; the router must survive and
// keep serving the canary. Its corpus holds the crash of a reserved frame
// type.
func FuzzRawSocketFrames(f *testing.F) {
	s, can := liveRouter(f)
	f.Add(uint8(stageRaw), []byte("\x7f\xf1\x00\x00\x03\x00\x00\x00"))
	f.Add(uint8(stageHandshake), []byte("\x00\x00\x00\x02[]"))
	f.Add(uint8(stageJoined), []byte("\x00\x00\x00\x12[48,1,{},\"p\",{}]"))
	f.Add(uint8(stageJoined), []byte("\x01\x00\x00\x01x\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, stage uint8, b []byte) {
		conn, err := net.DialTimeout("tcp", s.Addrs().RawSocket, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if stage%stages != stageRaw {
			p := &rawPeer{t: t, rs: conn}
			conn.Write([]byte{0x7f, 0xf1, 0, 0})
			io.ReadFull(conn, make([]byte, 4))
			if stage%stages == stageJoined {
				p.send(helloJSON)
				p.recv()
			}
		}
		conn.Write(b)
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn)
		can.check(t, "fuzzed rawsocket input")
	})
}

// FuzzWebSocketFrames sends a fuzzed message to a live router over
// WebSocket with a fuzzed subprotocol, before or after joining.
func FuzzWebSocketFrames(f *testing.F) {
	s, can := liveRouter(f)
	f.Add(uint8(0), false, []byte(`[1,"telemesh",{}]`))
	f.Add(uint8(0), true, []byte(`[48,1,{"timeout":"x"},"p"]`))
	f.Add(uint8(1), false, []byte("\x93\x01\xa8telemesh\x81\xc0\x01"))
	f.Add(uint8(2), true, []byte("\x85\x18\x30\x01\xa0\x61p\xa0"))
	protocols := []string{"wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"}
	f.Fuzz(func(t *testing.T, proto uint8, joined bool, b []byte) {
		sub := protocols[int(proto)%len(protocols)]
		d := websocket.Dialer{Subprotocols: []string{sub}, HandshakeTimeout: 5 * time.Second}
		conn, _, err := d.Dial(s.WebSocketURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ := websocket.BinaryMessage
		if sub == "wamp.2.json" {
			typ = websocket.TextMessage
		}
		if joined {
			hello := map[string][]byte{
				"wamp.2.json":    []byte(helloJSON),
				"wamp.2.msgpack": []byte("\x93\x01\xa8telemesh\x81\xa5roles\x81\xa6caller\x80"),
				"wamp.2.cbor":    []byte("\x83\x01\x68telemesh\xa1\x65roles\xa1\x66caller\xa0"),
			}[sub]
			conn.WriteMessage(typ, hello)
			conn.ReadMessage()
		}
		conn.WriteMessage(typ, b)
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				break
			}
		}
		can.check(t, "fuzzed websocket message")
	})
}

// FuzzCodec decodes fuzzed bytes with each serializer, checks the options
// and encodes the result again: nothing may panic.
func FuzzCodec(f *testing.F) {
	f.Add(uint8(0), []byte(`[48,1,{"receive_progress":true},"p",["\u0000AAEC"],{"k":"\u0000!!"}]`))
	f.Add(uint8(1), []byte("\x93\x01\xa8telemesh\x81\xc0\x01"))
	f.Add(uint8(2), []byte("\x85\x18\x30\x01\xa0\x61p\x81\x41\x00"))
	// YIELDs whose arguments pass through raw: a payload of the strict
	// reader's every kind, and one it leaves to the full decoder.
	args, kw := oddPayload()
	f.Add(uint8(1), yieldBytes(5, args, kw))
	f.Add(uint8(1), yieldBytes(5, []byte{0x91, 0x81, 0x01, 0xc7, 0x01, 0x05, 0x00}, nil))
	names := []string{"json", "msgpack", "cbor"}
	f.Fuzz(func(t *testing.T, ser uint8, b []byte) {
		c, _ := newCodec(names[int(ser)%len(names)])
		m, err := c.decode(b)
		if err != nil {
			c.decodeHead(b)
			return
		}
		invalidOptions(m)
		if _, err := c.encode(m); err != nil {
			t.Logf("encode: %v", err)
		}
		if rawOf(m) != nil {
			samePassthrough(t, c, b, m)
		}
	})
}

// FuzzRouterConfig parses fuzzed router configurations: an error or a
// valid configuration, never a panic.
func FuzzRouterConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b, dir)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a loaded configuration does not validate: %v", err)
		}
	})
}

// samePassthrough checks that a YIELD decoded with its arguments raw
// holds what the full decoder reads from the same bytes, and that every
// serializer can encode it.
func samePassthrough(t *testing.T, c *codec, b []byte, m wamp.Message) {
	full, err := c.decodeList(b)
	if err != nil {
		t.Fatalf("kept raw, but the full decoder refuses it: %v", err)
	}
	x, err := expand(m)
	if err != nil {
		t.Fatalf("kept raw, but its arguments do not decode: %v", err)
	}
	got, want := x.(*wamp.Yield), full.(*wamp.Yield)
	if !sameValues(got, want) {
		t.Fatalf("raw reading %#v, full reading %#v", got, want)
	}
	for _, name := range []string{"json", "cbor"} {
		o, _ := newCodec(name)
		o.encode(m) // an error (JSON has no NaN) is fine, a panic is not
	}
}
