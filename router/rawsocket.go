package router

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// RawSocket framing (WAMP RawSocket transport): a 4-byte handshake each
// way, then frames of a 1-byte type and a 3-byte big-endian length.
const (
	rsMagic    = 0x7f
	rsWAMP     = 0
	rsPing     = 1
	rsPong     = 2
	rsMaxLenOK = 0xf // the largest length exponent: 2^(9+15) = 16 MiB
)

var rsSerializers = map[byte]string{1: "json", 2: "msgpack", 3: "cbor"}

// RawSocket handshake error codes (the high nibble of the reply's second
// byte when its serializer nibble is 0).
const (
	rsErrSerializer = 1
	rsErrReserved   = 3
)

// errTooBig is a frame over the receive limit.
var errTooBig = errors.New("message too big")

// rsLength is the maximum a RawSocket length exponent announces.
func rsLength(exp byte) int { return 1 << (int(exp) + 9) }

// rsExponent is the smallest exponent announcing at least n bytes.
func rsExponent(n int) byte {
	for e := byte(0); e < rsMaxLenOK; e++ {
		if rsLength(e) >= n {
			return e
		}
	}
	return rsMaxLenOK
}

// rsConn is a RawSocket connection after the handshake.
type rsConn struct {
	conn    net.Conn
	maxSend int
	pongc   chan []byte
	hdr     [4]byte
}

// acceptRawSocket runs the server side of the RawSocket handshake on conn
// (whose deadline the caller sets) and returns the connection and its
// serializer's name. maxRecv is the limit announced to the client.
func acceptRawSocket(conn net.Conn, maxRecv int) (*rsConn, string, error) {
	var h [4]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return nil, "", fmt.Errorf("reading handshake: %w", err)
	}
	if h[0] != rsMagic {
		return nil, "", errors.New("not a rawsocket handshake")
	}
	if h[2] != 0 || h[3] != 0 {
		conn.Write([]byte{rsMagic, rsErrReserved << 4, 0, 0})
		return nil, "", errors.New("reserved handshake bits set")
	}
	ser, ok := rsSerializers[h[1]&0xf]
	if !ok {
		conn.Write([]byte{rsMagic, rsErrSerializer << 4, 0, 0})
		return nil, "", fmt.Errorf("unsupported serializer %d", h[1]&0xf)
	}
	if _, err := conn.Write([]byte{rsMagic, rsExponent(maxRecv)<<4 | h[1]&0xf, 0, 0}); err != nil {
		return nil, "", fmt.Errorf("writing handshake: %w", err)
	}
	return &rsConn{conn: conn, maxSend: rsLength(h[1] >> 4), pongc: make(chan []byte, 1)}, ser, nil
}

func (c *rsConn) readFrame(limit func() int, touch func()) ([]byte, error) {
	for {
		var h [4]byte
		if _, err := io.ReadFull(c.conn, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errPeerClosed
			}
			return nil, err
		}
		touch()
		n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		typ := h[0]
		if typ > rsPong {
			return nil, fmt.Errorf("reserved rawsocket frame type %d", typ)
		}
		if max := limit(); n > max {
			return nil, fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", errTooBig, n, max)
		}
		// Memory grows with what arrives, not with what a header claims.
		b, err := io.ReadAll(io.LimitReader(c.conn, int64(n)))
		if err != nil {
			return nil, fmt.Errorf("reading frame: %w", err)
		}
		if len(b) < n {
			return nil, fmt.Errorf("reading frame: %w", io.ErrUnexpectedEOF)
		}
		touch()
		switch typ {
		case rsWAMP:
			return b, nil
		case rsPing:
			select {
			case c.pongc <- b:
			default: // one answer pending is enough
			}
		}
	}
}

func (c *rsConn) write(typ byte, b []byte, deadline time.Time) error {
	if len(b) > 1<<24-1 {
		return fmt.Errorf("frame of %d bytes exceeds the rawsocket maximum", len(b))
	}
	c.conn.SetWriteDeadline(deadline)
	c.hdr = [4]byte{typ, byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}
	// One write per frame: a peer never sees a header without its body
	// because of a failed second write.
	_, err := (&net.Buffers{c.hdr[:], b}).WriteTo(c.conn)
	return err
}

func (c *rsConn) writeFrame(b []byte, deadline time.Time) error { return c.write(rsWAMP, b, deadline) }
func (c *rsConn) ping(deadline time.Time) error                 { return c.write(rsPing, nil, deadline) }
func (c *rsConn) writePong(b []byte, deadline time.Time) error  { return c.write(rsPong, b, deadline) }
func (c *rsConn) pongs() <-chan []byte                          { return c.pongc }
func (c *rsConn) sendLimit() int                                { return c.maxSend }
func (c *rsConn) close() error                                  { return c.conn.Close() }
