package router

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is a WAMP WebSocket connection; gorilla answers pings itself.
type wsConn struct {
	conn     *websocket.Conn
	payload  int // websocket.TextMessage for JSON, BinaryMessage otherwise
	handlers bool
}

func newWSConn(c *websocket.Conn, payload int) *wsConn {
	// Frames are bounded per message in readFrame; this bounds a frame
	// that is not a message (gorilla reads control frames whole).
	c.SetReadLimit(1 << 24)
	return &wsConn{conn: c, payload: payload}
}

func (c *wsConn) readFrame(limit func() int, touch func()) ([]byte, error) {
	if !c.handlers {
		c.handlers = true
		c.conn.SetPongHandler(func(string) error { touch(); return nil })
		c.conn.SetPingHandler(func(s string) error {
			touch()
			err := c.conn.WriteControl(websocket.PongMessage, []byte(s), time.Now().Add(time.Second))
			if errors.Is(err, websocket.ErrCloseSent) {
				return nil
			}
			return err
		})
	}
	typ, r, err := c.conn.NextReader()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errPeerClosed
		}
		return nil, err
	}
	touch()
	if typ != c.payload {
		return nil, fmt.Errorf("websocket message of type %d on a subprotocol that uses %d", typ, c.payload)
	}
	max := limit()
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: message exceeds the limit of %d bytes", errTooBig, max)
	}
	return b, nil
}

func (c *wsConn) writeFrame(b []byte, deadline time.Time) error {
	c.conn.SetWriteDeadline(deadline)
	return c.conn.WriteMessage(c.payload, b)
}

func (c *wsConn) ping(deadline time.Time) error {
	return c.conn.WriteControl(websocket.PingMessage, nil, deadline)
}

func (c *wsConn) pongs() <-chan []byte              { return nil }
func (c *wsConn) writePong([]byte, time.Time) error { return nil }
func (c *wsConn) sendLimit() int                    { return 0 }
func (c *wsConn) close() error {
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return c.conn.Close()
}
