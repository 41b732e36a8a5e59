package router

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// serPeer is a hand-driven RawSocket session speaking one serializer
// through the router's own codec, for sending and checking exact bytes.
type serPeer struct {
	t     testing.TB
	conn  net.Conn
	codec *codec
}

var serNumbers = map[string]byte{"json": 1, "msgpack": 2, "cbor": 3}

func dialSer(t testing.TB, s *Server, ser string) *serPeer {
	t.Helper()
	p := rawRSWith(t, s, 0xf, serNumbers[ser])
	p.rs.SetDeadline(time.Now().Add(10 * time.Minute)) // benchmarks run long
	c, _ := newCodec(ser)
	return &serPeer{t: t, conn: p.rs, codec: c}
}

func (p *serPeer) sendBytes(b []byte) {
	p.t.Helper()
	hdr := []byte{0, byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}
	if _, err := (&net.Buffers{hdr, b}).WriteTo(p.conn); err != nil {
		p.t.Fatalf("sending: %v", err)
	}
}

func (p *serPeer) send(m wamp.Message) {
	p.t.Helper()
	b, err := p.codec.encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendBytes(b)
}

// recvBytes returns the next WAMP message's bytes, answering pings.
func (p *serPeer) recvBytes() ([]byte, error) {
	for {
		var h [4]byte
		if _, err := io.ReadFull(p.conn, h[:]); err != nil {
			return nil, err
		}
		b := make([]byte, int(h[1])<<16|int(h[2])<<8|int(h[3]))
		if _, err := io.ReadFull(p.conn, b); err != nil {
			return nil, err
		}
		switch h[0] {
		case rsWAMP:
			return b, nil
		case rsPing:
			p.conn.Write(append([]byte{rsPong, h[1], h[2], h[3]}, b...))
		}
	}
}

// recv returns the next message, fully decoded.
func (p *serPeer) recv() wamp.Message {
	p.t.Helper()
	b, err := p.recvBytes()
	if err != nil {
		p.t.Fatalf("receiving: %v", err)
	}
	m, err := p.codec.decodeList(b)
	if err != nil {
		p.t.Fatalf("decoding %q: %v", b, err)
	}
	if p.codec.json {
		if args, kw := payload(m); args != nil {
			*args, _ = fromJSONBinary(*args).(wamp.List)
			*kw, _ = fromJSONBinary(*kw).(wamp.Dict)
		}
	}
	return m
}

func (p *serPeer) expect(typ wamp.MessageType) wamp.Message {
	p.t.Helper()
	m := p.recv()
	if m.MessageType() != typ {
		p.t.Fatalf("got %v %+v, want %v", m.MessageType(), m, typ)
	}
	return m
}

var peerRoles = wamp.Dict{"roles": wamp.Dict{"caller": wamp.Dict{}, "callee": wamp.Dict{}}}

// joinSer joins anonymously.
func joinSer(t testing.TB, s *Server, ser string) *serPeer {
	p := dialSer(t, s, ser)
	p.send(&wamp.Hello{Realm: wamp.URI(testNames.Realm), Details: peerRoles})
	p.expect(wamp.WELCOME)
	return p
}

// calleeSer joins as node1 and registers its get_data procedure.
func calleeSer(t testing.TB, s *Server, ser string) (*serPeer, string) {
	t.Helper()
	p := dialSer(t, s, ser)
	d := wamp.Dict{"roles": peerRoles["roles"], "authmethods": wamp.List{"ticket"}, "authid": "node1"}
	p.send(&wamp.Hello{Realm: wamp.URI(testNames.Realm), Details: d})
	p.expect(wamp.CHALLENGE)
	p.send(&wamp.Authenticate{Signature: nodeTicket, Extra: wamp.Dict{}})
	p.expect(wamp.WELCOME)
	proc := testNames.GetData("node1")
	p.send(&wamp.Register{Request: 1, Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
	p.expect(wamp.REGISTERED)
	return p, proc
}

// yieldBytes is a msgpack YIELD of req with the given encoded arguments
// and keyword arguments (nil: none).
func yieldBytes(req wamp.ID, args, kw []byte) []byte {
	n := byte(0x94)
	if kw != nil {
		n++
	}
	b := []byte{n, byte(wamp.YIELD), 0xcf}
	b = binary.BigEndian.AppendUint64(b, uint64(req))
	b = append(b, 0x80)
	return append(append(b, args...), kw...)
}

// callRaw has caller call proc as request req and callee answer with a
// YIELD of the given encoded payload; it returns the RESULT's bytes.
func callRaw(t testing.TB, caller, callee *serPeer, proc string, req wamp.ID, args, kw []byte) []byte {
	t.Helper()
	caller.send(&wamp.Call{Request: req, Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
	inv := callee.expect(wamp.INVOCATION).(*wamp.Invocation)
	callee.sendBytes(yieldBytes(inv.Request, args, kw))
	b, err := caller.recvBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payloadOf returns the encoded arguments and keyword arguments of a
// msgpack RESULT.
func payloadOf(t testing.TB, b []byte) (args, kw []byte) {
	t.Helper()
	if len(b) < 2 || b[1] != byte(wamp.RESULT) {
		t.Fatalf("not a RESULT: %x", b[:min(len(b), 16)])
	}
	n := int(b[0] & 0x0f)
	offs := []int{1}
	for range n {
		off, ok := skipValue(b, offs[len(offs)-1], 0)
		if !ok {
			t.Fatalf("RESULT %x does not parse", b)
		}
		offs = append(offs, off)
	}
	if n > headerLen {
		args = b[offs[headerLen]:offs[headerLen+1]]
	}
	if n > headerLen+1 {
		kw = b[offs[headerLen+1]:offs[headerLen+2]]
	}
	return args, kw
}

// oddPayload is msgpack that a decode and encode would not give back
// byte for byte: small numbers in wide forms, a float32, -0.0, a NaN
// with payload bits, the largest uint64 and int64 extremes, binary,
// strings in str8 and str16 forms, nested maps and lists.
func oddPayload() (args, kw []byte) {
	a := []byte{0x9c}
	a = append(a, 0xd3, 0, 0, 0, 0, 0, 0, 0, 7) // int64 7
	a = append(a, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	a = append(a, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0) // min int64
	a = append(a, 0xcb)
	a = binary.BigEndian.AppendUint64(a, math.Float64bits(math.Copysign(0, -1)))
	a = append(a, 0xcb)
	a = binary.BigEndian.AppendUint64(a, 0x7ff8000000000123) // NaN with payload
	a = append(a, 0xca)
	a = binary.BigEndian.AppendUint32(a, math.Float32bits(1.5))
	a = append(a, 0xc4, 3, 0, 0xff, 0x7f) // bin8
	a = append(a, 0xd9, 2, 'h', 'i')      // "hi" as str8
	a = append(a, 0xda, 0, 1, 'x')        // "x" as str16
	a = append(a, 0xc0, 0xc3)             // nil, true
	a = append(a, 0x82, 0xa1, 'm', 0x81, 0xa1, 'n', 0x92, 0x01, 0x80, 0xa1, 'e', 0x90)
	k := []byte{0xde, 0, 2} // map16 of two entries
	k = append(k, 0xa3, 'b', 'i', 'n', 0xc5, 0, 2, 1, 2)
	k = append(k, 0xa4, 'd', 'e', 'e', 'p', 0x91, 0x81, 0xa1, 'f', 0xcb)
	k = binary.BigEndian.AppendUint64(k, math.Float64bits(1e300))
	return a, k
}

// sameValues compares decoded payloads by their printed form, in which
// maps are sorted and a NaN equals a NaN.
func sameValues(a, b any) bool { return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) }

// TestPassthroughIdentical has a msgpack callee answer a msgpack caller
// with arguments no decode and encode would keep byte for byte: the
// RESULT carries them verbatim.
func TestPassthroughIdentical(t *testing.T) {
	s := startServer(t, testConfig(t))
	callee, proc := calleeSer(t, s, "msgpack")
	caller := joinSer(t, s, "msgpack")
	args, kw := oddPayload()
	for i, tc := range []struct{ args, kw []byte }{{args, kw}, {args, nil}, {[]byte{0x90}, kw}} {
		gotArgs, gotKw := payloadOf(t, callRaw(t, caller, callee, proc, wamp.ID(i+1), tc.args, tc.kw))
		if string(gotArgs) != string(tc.args) || string(gotKw) != string(tc.kw) {
			t.Errorf("case %d: RESULT payload\n%x %x\nwant\n%x %x", i, gotArgs, gotKw, tc.args, tc.kw)
		}
	}
}

// TestPassthroughCrossSerializer has a msgpack callee answer callers of
// every other kind: each gets the values a full decode of the YIELD
// gives, converted for its serializer as before.
func TestPassthroughCrossSerializer(t *testing.T) {
	s := startServer(t, testConfig(t))
	callee, proc := calleeSer(t, s, "msgpack")
	args, kw := oddPayload()
	// JSON has no NaN and no binary: its case leaves out those elements.
	jsonArgs := append([]byte{0x93}, args[1:1+9*3]...)
	jsonKw := []byte{0x81, 0xa1, 'k', 0xa2, 'v', 'w'}
	yieldTo := func(args, kw []byte) (want wamp.Message, answer func()) {
		full, err := (&codec{ser: &serialize.MessagePackSerializer{}}).decodeList(yieldBytes(1, args, kw))
		if err != nil {
			t.Fatal(err)
		}
		return full, func() {
			inv := callee.expect(wamp.INVOCATION).(*wamp.Invocation)
			callee.sendBytes(yieldBytes(inv.Request, args, kw))
		}
	}
	for _, ser := range []string{"json", "cbor"} {
		t.Run(ser, func(t *testing.T) {
			a, k := args, kw
			if ser == "json" {
				a, k = jsonArgs, jsonKw
			}
			full, answer := yieldTo(a, k)
			caller := joinSer(t, s, ser)
			caller.send(&wamp.Call{Request: 1, Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
			answer()
			res := caller.expect(wamp.RESULT).(*wamp.Result)
			y := full.(*wamp.Yield)
			// What the caller would get from the full decode, through
			// its own serializer.
			b, err := caller.codec.encode(&wamp.Result{Request: 1, Details: wamp.Dict{}, Arguments: y.Arguments, ArgumentsKw: y.ArgumentsKw})
			if err != nil {
				t.Fatal(err)
			}
			want, err := caller.codec.decode(b)
			if err != nil {
				t.Fatal(err)
			}
			w := want.(*wamp.Result)
			if !sameValues(res.Arguments, w.Arguments) || !sameValues(res.ArgumentsKw, w.ArgumentsKw) {
				t.Errorf("got %#v %#v\nwant %#v %#v", res.Arguments, res.ArgumentsKw, w.Arguments, w.ArgumentsKw)
			}
		})
	}
	t.Run("local", func(t *testing.T) {
		full, answer := yieldTo(args, kw)
		d := s.LocalDialer("bridge", "trusted")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := d(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		type reply struct {
			res *wamp.Result
			err error
		}
		done := make(chan reply, 1)
		go func() {
			res, err := c.Call(ctx, proc, nil, nil, nil, nil)
			done <- reply{res, err}
		}()
		answer()
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		y := full.(*wamp.Yield)
		if !sameValues(r.res.Arguments, y.Arguments) || !sameValues(r.res.ArgumentsKw, y.ArgumentsKw) {
			t.Errorf("got %#v %#v\nwant %#v %#v", r.res.Arguments, r.res.ArgumentsKw, y.Arguments, y.ArgumentsKw)
		}
	})
}

// TestPassthroughMalformedYield sends YIELDs whose arguments are not
// well-formed msgpack: the callee is told why and dropped, as before,
// the caller gets an ERROR rather than waiting, and the router serves on.
func TestPassthroughMalformedYield(t *testing.T) {
	s := startServer(t, testConfig(t))
	can := newCanary(t, s)
	cases := map[string][]byte{
		"truncated list": {0xdd, 0, 0, 0x10, 0, 0xcb, 0, 0},
		"unused byte":    {0x91, 0xc1},
		"bad key":        {0x91, 0x81, 0xc1, 0x01},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			callee, proc := calleeSer(t, s, "msgpack")
			caller := joinSer(t, s, "msgpack")
			caller.send(&wamp.Call{Request: 7, Options: wamp.Dict{}, Procedure: wamp.URI(proc)})
			inv := callee.expect(wamp.INVOCATION).(*wamp.Invocation)
			callee.sendBytes(yieldBytes(inv.Request, args, nil))
			abort := callee.expect(wamp.ABORT).(*wamp.Abort)
			if abort.Reason != wamp.ErrProtocolViolation || !strings.Contains(fmt.Sprint(abort.Details), "undecodable") {
				t.Errorf("callee got %+v, want a protocol violation saying why", abort)
			}
			e := caller.expect(wamp.ERROR).(*wamp.Error)
			if e.Request != 7 {
				t.Errorf("caller got %+v for the wrong request", e)
			}
			can.check(t, name)
		})
	}
}

// TestPassthroughDuplicateKeys has a msgpack callee answer with maps that
// name a key twice (in a small map, past the sixteenth entry of a large
// one, and in two string forms): such bytes are not passed through, and
// the caller gets one value per key, as the full decoder reads them.
func TestPassthroughDuplicateKeys(t *testing.T) {
	s := startServer(t, testConfig(t))
	callee, proc := calleeSer(t, s, "msgpack")
	caller := joinSer(t, s, "msgpack")
	big := []byte{0xde, 0, 20}
	for i := range 20 {
		k := byte('a' + i)
		if i == 18 {
			k = 'd' // the fourth key again
		}
		big = append(big, 0xa1, k, byte(i))
	}
	cases := map[string]struct{ args, kw []byte }{
		"small map":      {[]byte{0x91, 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02}, nil},
		"large map":      {append([]byte{0x91}, big...), nil},
		"two str forms":  {[]byte{0x90}, []byte{0x82, 0xa1, 'k', 0x01, 0xd9, 1, 'k', 0x02}},
		"nested in list": {[]byte{0x91, 0x91, 0x82, 0xa1, 'x', 0xc3, 0xa1, 'x', 0xc2}, nil},
	}
	req := wamp.ID(0)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req++
			y := yieldBytes(1, tc.args, tc.kw)
			if _, ok := (&codec{ser: &serialize.MessagePackSerializer{}, passthru: true}).decodeYieldRaw(y); ok {
				t.Fatal("the pass-through takes a map with a key twice")
			}
			full, err := (&codec{ser: &serialize.MessagePackSerializer{}}).decodeList(y)
			if err != nil {
				t.Fatal(err)
			}
			b := callRaw(t, caller, callee, proc, req, tc.args, tc.kw)
			gotArgs, gotKw := payloadOf(t, b)
			for _, part := range [][]byte{gotArgs, gotKw} {
				if part == nil {
					continue
				}
				if end, ok := skipValue(part, 0, 0); !ok || end != len(part) {
					t.Errorf("RESULT payload %x still names a key twice", part)
				}
			}
			res, err := caller.codec.decode(b)
			if err != nil {
				t.Fatal(err)
			}
			fy := full.(*wamp.Yield)
			r := res.(*wamp.Result)
			if !sameValues(r.Arguments, fy.Arguments) || len(fy.ArgumentsKw) > 0 && !sameValues(r.ArgumentsKw, fy.ArgumentsKw) {
				t.Errorf("caller got %v %v, want the full decode's %v %v", r.Arguments, r.ArgumentsKw, fy.Arguments, fy.ArgumentsKw)
			}
		})
	}
}

// TestPassthroughUndecodable checks the answer to a raw payload that
// fails to decode where values are needed: a clear error, never a panic.
func TestPassthroughUndecodable(t *testing.T) {
	bad := &wamp.Result{Request: 3, Details: wamp.Dict{}, Arguments: wamp.List{&rawPayload{args: []byte{0x91, 0xc1}}}}
	for _, ser := range []string{"json", "cbor"} {
		c, _ := newCodec(ser)
		if _, err := c.encode(bad); !errors.Is(err, errDecode) {
			t.Errorf("%s: encode error %v, want an undecodable payload", ser, err)
		}
	}
	e, ok := expandLocal(bad).(*wamp.Error)
	if !ok || e.Request != 3 || e.Error != wamp.ErrInvalidArgument {
		t.Errorf("local delivery of an undecodable payload: %+v", e)
	}
}

// BenchmarkYieldDay measures a call whose YIELD carries a day of 1 Hz
// float64 readings (86,400) from a msgpack callee, to a msgpack and a
// JSON caller. Both ends are bare sockets that do not decode the payload,
// so the figures are the router's.
func BenchmarkYieldDay(b *testing.B) {
	vals := make([]any, 86400)
	for i := range vals {
		vals[i] = 20 + math.Sin(float64(i)/3600)*float64(i%1000)/1000
	}
	args, err := (&serialize.MessagePackSerializer{}).SerializeDataItem(wamp.List{wamp.Dict{"field": vals}})
	if err != nil {
		b.Fatal(err)
	}
	for _, ser := range []string{"msgpack", "json"} {
		b.Run("caller="+ser, func(b *testing.B) {
			s := startServer(b, testConfig(b))
			callee, proc := calleeSer(b, s, "msgpack")
			caller := joinSer(b, s, ser)
			call := &wamp.Call{Options: wamp.Dict{}, Procedure: wamp.URI(proc)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				call.Request = wamp.ID(i + 1)
				caller.send(call)
				inv := callee.expect(wamp.INVOCATION).(*wamp.Invocation)
				callee.sendBytes(yieldBytes(inv.Request, args, nil))
				res, err := caller.recvBytes()
				if err != nil {
					b.Fatal(err)
				}
				if len(res) < len(args)/2 {
					b.Fatalf("short RESULT: %q", res[:min(len(res), 200)])
				}
			}
		})
	}
}
